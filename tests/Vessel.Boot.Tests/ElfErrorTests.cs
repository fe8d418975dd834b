using System.Buffers.Binary;

namespace Vessel.Boot.Tests;

public class ElfErrorTests
{
    private static byte[] Valid32() => new ElfBuilder(false) { Entry = 0x100000 }.Add(0x100000, TestImages.Code(32)).Build();
    private static byte[] Valid64() => new ElfBuilder(true) { Entry = 0x100000 }.Add(0x100000, TestImages.Code(32)).Build();

    private static string LoadError(byte[] image)
    {
        using var ram = new GuestRam();
        return Assert.Throws<BootImageException>(() => ram.Load(image)).Message;
    }

    [Fact]
    public void TruncatedHeader()
    {
        Assert.Equal("truncated ELF header", LoadError(Valid32()[..40]));
        Assert.Equal("truncated ELF header", LoadError(Valid64()[..60]));
        Assert.Equal("truncated ELF header", LoadError(Valid64()[..4]));
    }

    [Fact]
    public void IdentFields()
    {
        var image = Valid32(); image[4] = 3;
        Assert.Equal("ELF class 3 is neither ELF32 nor ELF64", LoadError(image));
        image = Valid32(); image[5] = 2;
        Assert.Equal("ELF image is not little-endian", LoadError(image));
        image = Valid64(); image[6] = 0;
        Assert.Equal("ELF version 0 is not 1", LoadError(image));
    }

    [Fact]
    public void NotAnExecutable() =>
        Assert.Equal("ELF type 1 is not an executable (ET_EXEC)",
            LoadError(new ElfBuilder(false) { Type = 1 }.Add(0x100000, [0xF4]).Build()));

    [Fact]
    public void WrongMachine()
    {
        Assert.Equal("ELF machine 62 is not i386 (3)", LoadError(new ElfBuilder(false) { Machine = 62 }.Add(0x100000, [0xF4]).Build()));
        Assert.Equal("ELF machine 40 is not x86-64 (62)", LoadError(new ElfBuilder(true) { Machine = 40 }.Add(0x100000, [0xF4]).Build()));
    }

    [Fact]
    public void NoProgramHeaders() =>
        Assert.Equal("ELF image has no program headers", LoadError(new ElfBuilder(true).Build()));

    [Fact]
    public void ProgramHeaderTooSmall()
    {
        var image = Valid64();
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(54), 32);
        Assert.Equal("ELF program header size 32 is smaller than 56", LoadError(image));
    }

    [Fact]
    public void ProgramHeaderTableBeyondTheFile()
    {
        var image = Valid64();
        BinaryPrimitives.WriteUInt64LittleEndian(image.AsSpan(32), ulong.MaxValue - 8);
        Assert.Equal($"ELF program header table (file offset 0x{ulong.MaxValue - 8:x}, 0x38 bytes) extends beyond the end of the {image.Length}-byte file",
            LoadError(image));
    }

    [Fact]
    public void NoLoadableSegments() =>
        Assert.Equal("ELF image has no loadable segments", LoadError(new ElfBuilder(false).Add(0x100000, [1], type: 4).Build()));

    [Fact]
    public void FileSizeLargerThanMemorySize() =>
        Assert.Equal("ELF segment 0 has more file bytes (0x20) than memory bytes (0x10)",
            LoadError(new ElfBuilder(false).Add(0x100000, TestImages.Code(32), memorySize: 16).Build()));

    [Fact]
    public void SegmentFileBytesBeyondTheFile()
    {
        var image = Valid64();
        BinaryPrimitives.WriteUInt64LittleEndian(image.AsSpan(64 + 8), ulong.MaxValue); // p_offset
        Assert.Equal($"ELF segment 0 (file offset 0x{ulong.MaxValue:x}, 0x20 bytes) extends beyond the end of the {image.Length}-byte file",
            LoadError(image));
    }

    [Fact]
    public void SegmentOutsideRam() =>
        Assert.Equal("ELF segment 0x10000000-0x10000020 is not in RAM",
            LoadError(new ElfBuilder(false) { Entry = 0x100000 }.Add(0x10000000, TestImages.Code(32)).Build()));

    [Fact]
    public void Elf32SegmentPastFourGiB() =>
        Assert.Equal("ELF segment 0xfffff000-0x100001000 lies above 0x100000000, out of the entry mode's reach",
            LoadError(new ElfBuilder(false) { Entry = 0x100000 }.Add(0xFFFFF000, [1], memorySize: 0x2000).Build()));
}
