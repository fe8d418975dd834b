using System.Buffers.Binary;
using System.Text;
using Vessel.Boot;
using Vessel.Boot.Linux;
using Vessel.Hypervisor;

namespace Vessel.Boot.Tests.Linux;

public sealed class LinuxLoaderTests : IDisposable
{
    private const ulong Preferred = 0x1000000;
    private readonly GuestMemoryRegion _region = new(64 << 20);
    private readonly GuestMemory _memory = new();
    private readonly MemoryMap _map = MemoryMap.ForPc(64 << 20);

    public LinuxLoaderTests() => _memory.Map(0, 0, _region);

    public void Dispose() => _region.Dispose();

    /// <summary>A synthetic bzImage: 4 setup sectors and a recognisable protected-mode kernel.</summary>
    private static byte[] Image(ushort version = 0x20F, ushort xloadflags = 0x7F, uint initSize = 0x200000,
        uint cmdlineSize = 0x7FF, int kernelBytes = 0x3000, ulong preferred = Preferred, uint alignment = 0x200000)
    {
        var image = new byte[5 * 512 + kernelBytes];
        image[0x1F1] = 4;
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(0x1FE), 0xAA55);
        image[0x200] = 0xEB;
        image[0x201] = 0x6A;
        Encoding.ASCII.GetBytes("HdrS", image.AsSpan(0x202));
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(0x206), version);
        image[0x211] = LinuxSetupHeader.LoadedHigh;
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(0x22C), 0x7FFFFFFF);
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(0x230), alignment);
        image[0x234] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(0x236), xloadflags);
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(0x238), cmdlineSize);
        BinaryPrimitives.WriteUInt64LittleEndian(image.AsSpan(0x258), preferred);
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(0x260), initSize);
        for (int i = 5 * 512; i < image.Length; i++) image[i] = (byte)(i * 13);
        return image;
    }

    [Fact]
    public void LoadsKernelBootParamsCommandLineAndInitrd()
    {
        byte[] image = Image();
        byte[] initrd = Enumerable.Range(0, 10_000).Select(i => (byte)(i * 7)).ToArray();
        var setup = LinuxLoader.Load(image, _memory, _map, new BootOptions { CommandLine = "console=ttyS0 quiet", Initrd = initrd });

        Assert.Equal(KernelImageFormat.LinuxBzImage, setup.Format);
        Assert.Equal(Preferred + 0x200, setup.Registers.Rip);
        Assert.Equal(image.AsSpan(5 * 512).ToArray(), _memory.GetSpan(Preferred, image.Length - 5 * 512).ToArray());
        Assert.True(setup.SpecialRegisters.Cs.Long);
        Assert.NotEqual(0UL, setup.SpecialRegisters.Efer & ControlRegisters.EferLma);

        ulong bp = setup.Registers.Rsi;
        var p = _memory.GetSpan(bp, 4096);
        Assert.Equal("HdrS", Encoding.ASCII.GetString(p.Slice(0x202, 4)));
        Assert.Equal(0xFF, p[0x210]);
        uint cmdline = BinaryPrimitives.ReadUInt32LittleEndian(p[0x228..]);
        Assert.Equal("console=ttyS0 quiet\0", Encoding.ASCII.GetString(_memory.GetSpan(cmdline, 20)));

        uint rdImage = BinaryPrimitives.ReadUInt32LittleEndian(p[0x218..]);
        uint rdSize = BinaryPrimitives.ReadUInt32LittleEndian(p[0x21C..]);
        Assert.Equal((uint)initrd.Length, rdSize);
        Assert.Equal(0u, rdImage % 4096);
        Assert.True(rdImage >= Preferred + 0x200000 || rdImage + rdSize <= Preferred, "initrd overlaps the kernel");
        Assert.True(rdImage + rdSize <= 64 << 20);
        Assert.Equal(initrd, _memory.GetSpan(rdImage, initrd.Length).ToArray());

        int entries = p[0x1E8];
        Assert.Equal(_map.Entries.Count, entries);
        Assert.Equal(0x100000UL, BinaryPrimitives.ReadUInt64LittleEndian(p[(0x2D0 + 2 * 20)..]));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(p[(0x2D0 + 2 * 20 + 16)..]));
    }

    [Fact]
    public void KernelLoaderDetectsAndBootsBzImages()
    {
        var setup = KernelLoader.Load(Image(), _memory, _map, new BootOptions());
        Assert.Equal(KernelImageFormat.LinuxBzImage, setup.Format);
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("bootflag")]
    [InlineData("old")]
    [InlineData("no64")]
    public void RefusesBadHeaders(string what)
    {
        byte[] image = what switch
        {
            "old" => Image(version: 0x20A),
            "no64" => Image(xloadflags: 0),
            _ => Image(),
        };
        if (what == "bootflag") image[0x1FE] = 0;
        if (what == "truncated") image = image[..0x240];
        var e = Assert.Throws<BootImageException>(() => LinuxLoader.Load(image, _memory, _map, new BootOptions()));
        Assert.Contains(what switch { "truncated" => "truncated", "bootflag" => "boot flag", "old" => "too old", _ => "64-bit" }, e.Message);
    }

    [Fact]
    public void RefusesATooLongCommandLine()
    {
        var e = Assert.Throws<BootImageException>(() =>
            LinuxLoader.Load(Image(cmdlineSize: 16), _memory, _map, new BootOptions { CommandLine = new string('x', 17) }));
        Assert.Contains("at most 16", e.Message);
    }

    [Fact]
    public void RefusesAnInitrdLargerThanRam()
    {
        var e = Assert.Throws<BootImageException>(() =>
            LinuxLoader.Load(Image(), _memory, _map, new BootOptions { Initrd = new byte[60 << 20] }));
        Assert.Contains("initrd", e.Message);
    }

    [Fact]
    public void RefusesTooLittleRam()
    {
        var e = Assert.Throws<BootImageException>(() => LinuxLoader.Load(Image(initSize: 0x4000000), _memory, _map, new BootOptions()));
        Assert.Contains("not enough RAM", e.Message);
    }

    [Theory]
    [InlineData(0xFFFF_FFFF_FFFF_F000UL, 0x200000u)]   // aligning it wrapped to 0: the kernel went to address 0
    [InlineData(0xFFFF_FFFF_FFE0_0000UL, 0x200000u)]   // aligned already, but pref_address + init_size wraps
    [InlineData(0xFFFF_FFFF_8000_0001UL, 0x8000_0000u)]
    public void RefusesAPreferredAddressThatWraps(ulong preferred, uint alignment)
    {
        var e = Assert.Throws<BootImageException>(() =>
            LinuxLoader.Load(Image(preferred: preferred, alignment: alignment), _memory, _map, new BootOptions()));
        Assert.Contains("wraps", e.Message);
        Assert.Equal(new byte[64], _memory.GetSpan(0, 64).ToArray()); // nothing written at 0
    }

    [Fact]
    public void AKernelPreferringLowMemoryKeepsItsBytes()
    {
        const ulong low = 0x1000;
        byte[] image = Image(initSize: 0x20000, preferred: low, alignment: 0x1000);
        var setup = LinuxLoader.Load(image, _memory, _map, new BootOptions { CommandLine = "console=ttyS0", Initrd = new byte[4096] });

        Assert.Equal(low + 0x200, setup.Registers.Rip);
        // boot_params, the command line, page tables, GDT and stack all went around it.
        Assert.Equal(image.AsSpan(5 * 512).ToArray(), _memory.GetSpan(low, image.Length - 5 * 512).ToArray());
        var kernel = new PhysicalRange(low, low + 0x20000);
        Assert.False(kernel.Overlaps(new PhysicalRange(setup.Registers.Rsi, setup.Registers.Rsi + 4096)));
        Assert.False(kernel.Overlaps(new PhysicalRange(setup.SpecialRegisters.Cr3, setup.SpecialRegisters.Cr3 + 4096)));
        Assert.False(kernel.Overlaps(new PhysicalRange(setup.SpecialRegisters.Gdt.Base, setup.SpecialRegisters.Gdt.Base + 64)));
    }

    [Fact]
    public void RefusesAKernelRunningIntoTheReservedAreaBelow1MiB()
    {
        var e = Assert.Throws<BootImageException>(() =>
            LinuxLoader.Load(Image(initSize: 0x100000, preferred: 0x80000, alignment: 0x1000), _memory, _map, new BootOptions()));
        Assert.Contains("reserved area below 1 MiB", e.Message);
    }

    [Fact]
    public void AKernelTakingAllOfLowMemoryIsRefusedCleanly()
    {
        var e = Assert.Throws<BootImageException>(() =>
            LinuxLoader.Load(Image(initSize: 0x9E000, preferred: 0x1000, alignment: 0x1000), _memory, _map, new BootOptions()));
        Assert.Contains("no room in low memory", e.Message);
    }

    [Fact]
    public void RefusesAKernelAboveTheIdentityMappedFourGiB()
    {
        var map = MemoryMap.ForPc(6UL << 30);
        var e = Assert.Throws<BootImageException>(() =>
            LinuxLoader.Load(Image(preferred: 0x1_0000_0000), _memory, map, new BootOptions()));
        Assert.Contains("identity-mapped", e.Message);
    }
}
