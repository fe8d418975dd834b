using Vessel.Boot.Elf;

namespace Vessel.Boot.Pvh;

/// <summary>XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit physical entry point of a kernel that boots the PVH way.</summary>
internal static class PvhNote
{
    public const uint Phys32EntryType = 18;

    /// <summary>The PVH entry point, or null when the image has no such note.</summary>
    public static ulong? FindEntry(ElfImage elf)
    {
        foreach (var note in elf.Notes)
        {
            if (note.Name != "Xen" || note.Type != Phys32EntryType) continue;
            return note.Descriptor.Length switch
            {
                4 => ImageBytes.U32(note.Descriptor, 0),
                8 => ImageBytes.U64(note.Descriptor, 0),
                _ => throw new BootImageException($"PVH entry note has a {note.Descriptor.Length}-byte value (expected 4 or 8)"),
            };
        }
        return null;
    }
}
