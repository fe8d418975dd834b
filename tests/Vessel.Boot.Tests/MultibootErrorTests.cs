namespace Vessel.Boot.Tests;

public class MultibootErrorTests
{
    private static string LoadError(byte[] image, BootOptions? options = null, ulong ramSize = 16 << 20)
    {
        using var ram = new GuestRam(ramSize);
        return Assert.Throws<BootImageException>(() => ram.Load(image, options)).Message;
    }

    [Fact]
    public void BadChecksum()
    {
        byte[] image = [.. TestImages.MultibootHeader(checksum: 1234), .. new byte[100]];
        Assert.Equal("multiboot header at file offset 0x0 has a bad checksum", LoadError(image));
    }

    [Fact]
    public void TruncatedHeader()
    {
        byte[] image = [.. new byte[16], .. TestImages.MultibootHeader()[..8]];
        Assert.Equal("truncated multiboot header", LoadError(image));
    }

    [Fact]
    public void TruncatedAddressFields()
    {
        byte[] image = TestImages.MultibootHeader(TestImages.AddressFieldsFlag, headerAddr: 0x100000, loadAddr: 0x100000)[..20];
        Assert.Equal("truncated multiboot header: its address fields extend beyond the end of the file", LoadError(image));
    }

    [Fact]
    public void UnknownRequiredFeature()
    {
        byte[] image = [.. TestImages.MultibootHeader(flags: 1 << 5), .. new byte[100]];
        Assert.Equal("multiboot header requires features Vessel does not provide (flags 0x20)", LoadError(image));
    }

    [Fact]
    public void NeitherElfNorAddressFields()
    {
        byte[] image = [.. TestImages.MultibootHeader(flags: 3), .. new byte[100]];
        Assert.Equal("multiboot kernel is not ELF and its header has no address fields (flag 16)", LoadError(image));
    }

    [Fact]
    public void SegmentInTheBiosHole() =>
        Assert.Equal("ELF segment 0x9f000-0xa120c is not in RAM", LoadError(TestImages.MultibootElf(0x9F000, bss: 0x2000)));

    [Theory]
    [InlineData(0x0u)]
    [InlineData(0x400u)]
    public void AKernelOnTheVectorTableIsRefused(uint address) =>
        Assert.StartsWith($"multiboot kernel 0x{address:x}-", LoadError(TestImages.AoutKludge(address, bss: 0)));

    [Fact]
    public void AnElfKernelOnTheVectorTableIsRefused() =>
        Assert.Equal("multiboot kernel 0x0-0x220c overlaps the interrupt vector table and BIOS data area (0x0-0x500)",
            LoadError(TestImages.MultibootElf(0, bss: 0x2000)));

    [Fact]
    public void SegmentBeyondTheEndOfRam() =>
        Assert.Equal("ELF segment 0xfff000-0x100120c is not in RAM", LoadError(TestImages.MultibootElf(0xFFF000, bss: 0x2000)));

    [Fact]
    public void SegmentBeyondTheEndOfTheFile()
    {
        byte[] image = TestImages.MultibootElf();
        Assert.Matches(@"^ELF segment 0 \(file offset 0x54, 0x20c bytes\) extends beyond the end of the \d+-byte file$", LoadError(image[..^1]));
    }

    [Fact]
    public void EntryOutsideRam()
    {
        byte[] text = [.. TestImages.MultibootHeader(), .. TestImages.Code(16)];
        byte[] image = new ElfBuilder(false) { Entry = 0xA0000 }.Add(0x100000, text).Build();
        Assert.Equal("multiboot entry point 0xa0000 is not in RAM below 4 GiB", LoadError(image));
    }

    [Fact]
    public void InitrdTooLargeForRam() =>
        Assert.Equal("initrd (16777216 bytes) does not fit in RAM below 4 GiB after the kernel",
            LoadError(TestImages.MultibootElf(), new BootOptions { Initrd = new byte[16 << 20] }));

    [Fact]
    public void SecondModuleTooLarge() =>
        Assert.Equal("module 1 (15728640 bytes) does not fit in RAM below 4 GiB after the kernel",
            LoadError(TestImages.MultibootElf(), new BootOptions { Modules = [new(new byte[10]), new(new byte[15 << 20])] }));

    [Fact]
    public void CommandLineTooLong() =>
        Assert.Equal("command line is 4096 bytes long; the limit is 4095",
            LoadError(TestImages.MultibootElf(), new BootOptions { CommandLine = new string('a', 4096) }));

    [Fact]
    public void CommandLineWithNul() =>
        Assert.Equal("command line contains a NUL character",
            LoadError(TestImages.MultibootElf(), new BootOptions { CommandLine = "a\0b" }));

    [Fact]
    public void KludgeLoadAddrBeforeTheFile()
    {
        var image = TestImages.MultibootHeader(TestImages.AddressFieldsFlag, headerAddr: 0x100010, loadAddr: 0x100000, entryAddr: 0x100000);
        Assert.Equal("multiboot load_addr 0x100000 lies before the start of the file", LoadError(image));
    }

    [Fact]
    public void KludgeHeaderAddrBelowLoadAddr()
    {
        var image = TestImages.MultibootHeader(TestImages.AddressFieldsFlag, headerAddr: 0xFFFF0, loadAddr: 0x100000);
        Assert.Equal("multiboot header_addr 0xffff0 is below load_addr 0x100000", LoadError(image));
    }

    [Fact]
    public void KludgeLoadEndBeyondTheFile()
    {
        var image = TestImages.MultibootHeader(TestImages.AddressFieldsFlag, headerAddr: 0x100000, loadAddr: 0x100000,
            loadEndAddr: 0x100040, entryAddr: 0x100000);
        Assert.Equal("multiboot load range (file offset 0x0, 0x40 bytes) extends beyond the end of the 32-byte file", LoadError(image));
    }

    [Fact]
    public void KludgeBssEndBelowLoadEnd()
    {
        var image = TestImages.MultibootHeader(TestImages.AddressFieldsFlag, headerAddr: 0x100000, loadAddr: 0x100000,
            bssEndAddr: 0x100010, entryAddr: 0x100000);
        Assert.Equal("multiboot bss_end_addr 0x100010 is below load_end_addr 0x100020", LoadError(image));
    }

    [Fact]
    public void KludgeKernelPastFourGiB()
    {
        var image = TestImages.MultibootHeader(TestImages.AddressFieldsFlag, headerAddr: 0xFFFFF000, loadAddr: 0xFFFFF000,
            bssEndAddr: 0xFFFFFFFF, entryAddr: 0xFFFFF000);
        Assert.Equal("multiboot kernel 0xfffff000-0xffffffff is not in RAM", LoadError(image));
    }
}
