namespace Vessel.Boot.Tests;

public class FormatDetectionTests
{
    [Fact]
    public void EachFormatIsRecognisedByItsBytes()
    {
        Assert.Equal(KernelImageFormat.Multiboot, KernelImageFormats.Detect(TestImages.MultibootElf()));
        Assert.Equal(KernelImageFormat.Multiboot, KernelImageFormats.Detect(TestImages.AoutKludge()));
        Assert.Equal(KernelImageFormat.Elf32, KernelImageFormats.Detect(new ElfBuilder(false).Add(0x100000, [0xF4]).Build()));
        Assert.Equal(KernelImageFormat.Elf64, KernelImageFormats.Detect(new ElfBuilder(true).Add(0x100000, [0xF4]).Build()));
        Assert.Equal(KernelImageFormat.BootSector, KernelImageFormats.Detect(TestImages.BootSector()));
        Assert.Equal(KernelImageFormat.LinuxBzImage, KernelImageFormats.Detect(BzImage()));
        Assert.Equal(KernelImageFormat.Unknown, KernelImageFormats.Detect(new byte[4096]));
        Assert.Equal(KernelImageFormat.Unknown, KernelImageFormats.Detect([]));
    }

    [Fact]
    public void MultibootHeaderWinsOverTheBootSectorSignature()
    {
        var image = TestImages.BootSector(1024);
        TestImages.MultibootHeader().CopyTo(image, 512);
        Assert.Equal(KernelImageFormat.Multiboot, KernelImageFormats.Detect(image));
    }

    [Fact]
    public void MultibootMagicIsOnlySearchedAlignedAndInTheFirst8KiB()
    {
        var image = new byte[16384];
        TestImages.MultibootHeader().CopyTo(image, 8192);
        Assert.Equal(KernelImageFormat.Unknown, KernelImageFormats.Detect(image));
        image = new byte[4096];
        TestImages.MultibootHeader().CopyTo(image, 2);
        Assert.Equal(KernelImageFormat.Unknown, KernelImageFormats.Detect(image));
    }

    [Fact]
    public void ABzImageWithoutAValidSetupHeaderIsRefusedClearly()
    {
        using var ram = new GuestRam();
        Assert.Contains("bzImage", Assert.Throws<BootImageException>(() => ram.Load(BzImage())).Message);
    }

    [Fact]
    public void UnknownFormatIsRefused()
    {
        using var ram = new GuestRam();
        Assert.Equal("unknown kernel image format", Assert.Throws<BootImageException>(() => ram.Load(new byte[100])).Message);
    }

    private static byte[] BzImage()
    {
        var image = TestImages.BootSector(0x1000);
        "HdrS"u8.CopyTo(image.AsSpan(0x202));
        return image;
    }
}
