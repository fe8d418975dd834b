using Vessel.Hypervisor;

namespace Vessel.Boot.Tests;

public class BootSectorLoaderTests
{
    [Fact]
    public void BootSectorIsLoadedAt7C00AndEnteredInRealModeAsABiosWould()
    {
        using var ram = new GuestRam();
        byte[] image = TestImages.BootSector(1536);
        var setup = ram.Load(image);

        Assert.Equal(image, ram.Read(0x7C00, image.Length));
        Assert.Equal(KernelImageFormat.BootSector, setup.Format);
        Assert.Equal(0x7C00UL, setup.Registers.Rip);
        Assert.Equal(0x7C00UL, setup.Registers.Rsp);
        Assert.Equal(0x80UL, setup.Registers.Rdx & 0xFF);
        Assert.Equal(RflagsBits.Reserved1, setup.Registers.Rflags);
        var s = setup.SpecialRegisters;
        Assert.Equal(0, s.Cs.Selector);
        Assert.Equal(0UL, s.Cs.Base);
        Assert.Equal(0xFFFFu, s.Cs.Limit);
        Assert.Equal(0UL, s.Cr0 & ControlRegisters.Cr0Pe);
        Assert.Equal(0UL, s.Ss.Base);
    }

    [Fact]
    public void ImageThatWouldRunIntoTheBiosAreaIsRefused()
    {
        using var ram = new GuestRam();
        Assert.Equal("boot sector image of 622593 bytes does not fit between 0x7c00 and 0x9fc00",
            Assert.Throws<BootImageException>(() => ram.Load(TestImages.BootSector(0x9FC00 - 0x7C00 + 1))).Message);
        ram.Load(TestImages.BootSector(0x9FC00 - 0x7C00));
    }

    [Fact]
    public void CommandLineIsRefused()
    {
        using var ram = new GuestRam();
        Assert.Equal("a boot sector kernel cannot receive a command line",
            Assert.Throws<BootImageException>(() => ram.Load(TestImages.BootSector(), new BootOptions { CommandLine = "x" })).Message);
    }
}
