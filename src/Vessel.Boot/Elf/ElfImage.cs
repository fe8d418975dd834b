namespace Vessel.Boot.Elf;

/// <summary>A PT_LOAD program header.</summary>
internal readonly record struct ElfSegment(ulong FileOffset, ulong FileSize, ulong VirtualAddress, ulong PhysicalAddress, ulong MemorySize);

/// <summary>The parts of an x86 ELF executable a loader needs, validated against the file: every loadable
/// segment's file bytes lie inside the file and its memory size covers its file size.</summary>
internal sealed class ElfImage
{
    private const int Elf32HeaderSize = 52, Elf64HeaderSize = 64;
    private const int Elf32PhdrSize = 32, Elf64PhdrSize = 56;
    private const byte ClassElf32 = 1, ClassElf64 = 2, DataLittleEndian = 1;
    private const ushort TypeExecutable = 2, MachineI386 = 3, MachineX8664 = 62;
    private const uint PtLoad = 1, PtNote = 4;

    private ElfImage(bool is64, ulong entry, IReadOnlyList<ElfSegment> segments, IReadOnlyList<ElfNote> notes)
    {
        Is64 = is64;
        Entry = entry;
        LoadSegments = segments;
        Notes = notes;
    }

    /// <summary>The notes of every PT_NOTE segment, in file order.</summary>
    public IReadOnlyList<ElfNote> Notes { get; }

    public bool Is64 { get; }
    public ulong Entry { get; }
    public IReadOnlyList<ElfSegment> LoadSegments { get; }
    public string Name => Is64 ? "ELF64" : "ELF32";

    public static bool HasElfMagic(ReadOnlySpan<byte> image) => image.StartsWith("\u007fELF"u8);

    public static bool IsElf64(ReadOnlySpan<byte> image) => image.Length > 4 && image[4] == ClassElf64;

    public static ElfImage Parse(ReadOnlySpan<byte> image)
    {
        if (!HasElfMagic(image)) throw new BootImageException("not an ELF image");
        if (image.Length < 5) throw new BootImageException("truncated ELF header");
        byte elfClass = image[4];
        if (elfClass != ClassElf32 && elfClass != ClassElf64)
            throw new BootImageException($"ELF class {elfClass} is neither ELF32 nor ELF64");
        bool is64 = elfClass == ClassElf64;
        if (image.Length < (is64 ? Elf64HeaderSize : Elf32HeaderSize)) throw new BootImageException("truncated ELF header");
        if (image[5] != DataLittleEndian) throw new BootImageException("ELF image is not little-endian");
        if (image[6] != 1) throw new BootImageException($"ELF version {image[6]} is not 1");

        ushort type = ImageBytes.U16(image, 16), machine = ImageBytes.U16(image, 18);
        if (type != TypeExecutable) throw new BootImageException($"ELF type {type} is not an executable (ET_EXEC)");
        ushort expectedMachine = is64 ? MachineX8664 : MachineI386;
        if (machine != expectedMachine)
            throw new BootImageException($"ELF machine {machine} is not {(is64 ? "x86-64 (62)" : "i386 (3)")}");

        ulong entry = is64 ? ImageBytes.U64(image, 24) : ImageBytes.U32(image, 24);
        ulong phoff = is64 ? ImageBytes.U64(image, 32) : ImageBytes.U32(image, 28);
        ushort phentsize = ImageBytes.U16(image, is64 ? 54 : 42), phnum = ImageBytes.U16(image, is64 ? 56 : 44);
        int minPhdr = is64 ? Elf64PhdrSize : Elf32PhdrSize;
        if (phnum == 0) throw new BootImageException("ELF image has no program headers");
        if (phentsize < minPhdr) throw new BootImageException($"ELF program header size {phentsize} is smaller than {minPhdr}");

        var table = ImageBytes.Slice(image, phoff, (ulong)phnum * phentsize, "ELF program header table");
        var segments = new List<ElfSegment>();
        var notes = new List<ElfNote>();
        for (int i = 0; i < phnum; i++)
        {
            var ph = table.Slice(i * phentsize, minPhdr);
            uint kind = ImageBytes.U32(ph, 0);
            if (kind == PtNote)
            {
                ulong offset = is64 ? ImageBytes.U64(ph, 8) : ImageBytes.U32(ph, 4);
                ulong size = is64 ? ImageBytes.U64(ph, 32) : ImageBytes.U32(ph, 16);
                ElfNote.ParseAll(ImageBytes.Slice(image, offset, size, $"ELF note segment {i}"), notes);
                continue;
            }
            if (kind != PtLoad) continue;
            var s = is64
                ? new ElfSegment(ImageBytes.U64(ph, 8), ImageBytes.U64(ph, 32), ImageBytes.U64(ph, 16), ImageBytes.U64(ph, 24), ImageBytes.U64(ph, 40))
                : new ElfSegment(ImageBytes.U32(ph, 4), ImageBytes.U32(ph, 16), ImageBytes.U32(ph, 8), ImageBytes.U32(ph, 12), ImageBytes.U32(ph, 20));
            if (s.FileSize > s.MemorySize)
                throw new BootImageException($"ELF segment {i} has more file bytes (0x{s.FileSize:x}) than memory bytes (0x{s.MemorySize:x})");
            ImageBytes.Slice(image, s.FileOffset, s.FileSize, $"ELF segment {i}");
            if (s.MemorySize > 0) segments.Add(s);
        }
        if (segments.Count == 0) throw new BootImageException("ELF image has no loadable segments");
        return new ElfImage(is64, entry, segments, notes);
    }

    /// <summary>The entry point as a physical address: e_entry is virtual, so a segment that contains it in its
    /// virtual range translates it (as GRUB does); otherwise it is taken as physical.</summary>
    public ulong PhysicalEntry
    {
        get
        {
            foreach (var s in LoadSegments)
                if (Entry >= s.VirtualAddress && Entry - s.VirtualAddress < s.MemorySize)
                    return s.PhysicalAddress + (Entry - s.VirtualAddress);
            return Entry;
        }
    }
}
