namespace Vessel.Boot.Elf;

/// <summary>One ELF note: owner name, type and descriptor bytes.</summary>
internal sealed record ElfNote(string Name, uint Type, byte[] Descriptor)
{
    /// <summary>Appends every note in a PT_NOTE segment's bytes; a note running past the segment is an error.</summary>
    public static void ParseAll(ReadOnlySpan<byte> segment, List<ElfNote> notes)
    {
        int offset = 0;
        while (segment.Length - offset >= 12)
        {
            uint nameSize = ImageBytes.U32(segment, offset), descSize = ImageBytes.U32(segment, offset + 4);
            uint type = ImageBytes.U32(segment, offset + 8);
            ulong nameStart = (ulong)offset + 12;
            ulong descStart = nameStart + Align4(nameSize);
            ulong end = descStart + Align4(descSize);
            if (end > (ulong)segment.Length) throw new BootImageException("ELF note runs past the end of its segment");
            var name = segment.Slice((int)nameStart, (int)nameSize);
            int terminator = name.IndexOf((byte)0);
            if (terminator >= 0) name = name[..terminator];
            notes.Add(new ElfNote(System.Text.Encoding.ASCII.GetString(name), type, segment.Slice((int)descStart, (int)descSize).ToArray()));
            offset = (int)end;
        }
    }

    private static ulong Align4(uint size) => ((ulong)size + 3) & ~3UL;
}
