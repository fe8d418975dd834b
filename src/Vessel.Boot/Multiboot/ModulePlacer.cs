namespace Vessel.Boot.Multiboot;

/// <summary>Chooses where multiboot modules go: page-aligned, one after another above the kernel's end, each in
/// the first RAM below 4 GiB that holds it whole (skipping holes such as the one below 1 MiB).</summary>
internal static class ModulePlacer
{
    private const ulong PageSize = 4096;
    private const ulong Limit = 1UL << 32;

    public static IReadOnlyList<PhysicalRange> Place(
        IReadOnlyList<BootModule> modules, IReadOnlyList<string> labels, ulong kernelEnd, MemoryMap map)
    {
        var placed = new List<PhysicalRange>();
        ulong next = kernelEnd;
        for (int i = 0; i < modules.Count; i++)
        {
            ulong length = (ulong)modules[i].Data.Length;
            var range = FirstFit(map, next, length)
                ?? throw new BootImageException($"{labels[i]} ({length} bytes) does not fit in RAM below 4 GiB after the kernel");
            placed.Add(range);
            next = range.End;
        }
        return placed;
    }

    private static PhysicalRange? FirstFit(MemoryMap map, ulong from, ulong length)
    {
        foreach (var e in map.Entries)
        {
            if (e.Type != MemoryType.Ram || e.End <= from) continue;
            ulong start = AlignUp(Math.Max(from, e.Start));
            if (start >= Limit) return null;
            if (length <= e.End - Math.Min(start, e.End) && length <= Limit - start)
                return new PhysicalRange(start, start + length);
        }
        return null;
    }

    private static ulong AlignUp(ulong value) => value > ulong.MaxValue - (PageSize - 1) ? ulong.MaxValue : (value + PageSize - 1) & ~(PageSize - 1);
}
