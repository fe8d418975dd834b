namespace Vessel.Boot.Multiboot;

/// <summary>The Multiboot v1 header of a kernel file: magic, flags, checksum, and (flag 16, the "a.out kludge")
/// the addresses to load the file at without reading it as ELF.</summary>
internal sealed record MultibootHeader(
    int Offset, uint Flags, uint HeaderAddress, uint LoadAddress, uint LoadEndAddress, uint BssEndAddress, uint EntryAddress)
{
    public const uint Magic = 0x1BADB002;
    public const int SearchLength = 8192;
    public const uint FlagPageAlignModules = 1, FlagMemoryInfo = 1 << 1, FlagVideoMode = 1 << 2, FlagAddressFields = 1 << 16;
    private const int BaseSize = 12, WithAddressesSize = 32;
    /// <summary>Bits 0-15 are requirements a loader must refuse if it does not know them; we know 0-2.</summary>
    private const uint UnknownRequirements = 0xFFFF & ~(FlagPageAlignModules | FlagMemoryInfo | FlagVideoMode);

    public bool HasAddressFields => (Flags & FlagAddressFields) != 0;

    public static bool ContainsMagic(ReadOnlySpan<byte> image) => MagicOffsets(image).Any();

    /// <summary>The first header whose checksum is valid, checked for what this loader can honour.</summary>
    public static MultibootHeader Parse(ReadOnlySpan<byte> image)
    {
        var offsets = MagicOffsets(image).ToList();
        if (offsets.Count == 0) throw new BootImageException("no multiboot header in the first 8192 bytes");
        foreach (int offset in offsets)
        {
            if (image.Length - offset < BaseSize) continue;
            uint flags = ImageBytes.U32(image, offset + 4), checksum = ImageBytes.U32(image, offset + 8);
            if (unchecked(Magic + flags + checksum) != 0) continue;

            if ((flags & UnknownRequirements) != 0)
                throw new BootImageException($"multiboot header requires features Vessel does not provide (flags 0x{flags:x})");
            if ((flags & FlagAddressFields) == 0) return new MultibootHeader(offset, flags, 0, 0, 0, 0, 0);
            if (image.Length - offset < WithAddressesSize)
                throw new BootImageException("truncated multiboot header: its address fields extend beyond the end of the file");
            return new MultibootHeader(offset, flags, ImageBytes.U32(image, offset + 12), ImageBytes.U32(image, offset + 16),
                ImageBytes.U32(image, offset + 20), ImageBytes.U32(image, offset + 24), ImageBytes.U32(image, offset + 28));
        }
        int first = offsets[0];
        throw image.Length - first < BaseSize
            ? new BootImageException("truncated multiboot header")
            : new BootImageException($"multiboot header at file offset 0x{first:x} has a bad checksum");
    }

    private static IEnumerable<int> MagicOffsets(ReadOnlySpan<byte> image)
    {
        var found = new List<int>();
        int end = Math.Min(image.Length, SearchLength) - 4;
        for (int offset = 0; offset <= end; offset += 4)
            if (ImageBytes.U32(image, offset) == Magic) found.Add(offset);
        return found;
    }
}
