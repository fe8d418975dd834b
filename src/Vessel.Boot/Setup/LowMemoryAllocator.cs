using Vessel.Hypervisor;

namespace Vessel.Boot.Setup;

/// <summary>Hands out zeroed blocks of low memory (RAM in [0x500, 640 KiB)) for what the loader builds for the
/// kernel: GDT, TSS, page tables, stack, boot information. It never hands out a byte the kernel or its modules
/// occupy, so a kernel linked low (kvm-unit-tests' realmode.flat sits at 16 KiB) keeps its memory.</summary>
internal sealed class LowMemoryAllocator(GuestMemory memory, MemoryMap map, IEnumerable<PhysicalRange> occupied)
{
    public const ulong Bottom = PcLayout.LowScratchStart;
    public const ulong Top = PcLayout.ConventionalMemoryEnd;

    private readonly List<PhysicalRange> _taken = [.. occupied];

    public ulong Allocate(ulong size, ulong alignment, string what)
    {
        ulong candidate = Bottom;
        while (true)
        {
            if (candidate >= Top || size > Top || AlignUp(candidate, alignment) > Top - size)
                throw new BootImageException($"no room in low memory (below 640 KiB) for the {what} ({size} bytes)");
            candidate = AlignUp(candidate, alignment);
            var block = new PhysicalRange(candidate, candidate + size);
            var clash = _taken.Where(t => t.Overlaps(block)).Select(t => (PhysicalRange?)t).FirstOrDefault();
            if (clash is { } c) { candidate = c.End; continue; }
            if (!map.IsRamRange(block)) { candidate = NextRamAfter(candidate); continue; }
            _taken.Add(block);
            GuestWrites.Zero(memory, block.Start, size);
            return block.Start;
        }
    }

    /// <summary>The start of the first RAM entry above <paramref name="address"/>, or <see cref="Top"/>.</summary>
    private ulong NextRamAfter(ulong address)
    {
        foreach (var e in map.Entries)
            if (e.Type == MemoryType.Ram && e.Start > address) return e.Start;
        return Top;
    }

    private static ulong AlignUp(ulong value, ulong alignment) => (value + alignment - 1) / alignment * alignment;
}
