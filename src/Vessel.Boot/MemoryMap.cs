using Vessel.Hypervisor;

namespace Vessel.Boot;

/// <summary>e820 memory types (the numbers are the e820/multiboot values).</summary>
public enum MemoryType : uint
{
    Ram = 1,
    Reserved = 2,
}

public readonly record struct MemoryMapEntry(ulong Start, ulong Length, MemoryType Type)
{
    public ulong End => Start + Length;
}

/// <summary>The machine's guest-physical RAM layout as e820-style entries, built by the VMM and handed to loaders
/// (which pass it on to the guest). Entries are sorted, non-empty and do not overlap.</summary>
public sealed class MemoryMap
{
    public MemoryMap(IEnumerable<MemoryMapEntry> entries)
    {
        var sorted = entries.OrderBy(e => e.Start).ToArray();
        for (int i = 0; i < sorted.Length; i++)
        {
            var e = sorted[i];
            if (e.Length == 0 || e.Length > ulong.MaxValue - e.Start)
                throw new ArgumentException($"memory map entry at 0x{e.Start:x} has a bad length 0x{e.Length:x}");
            if (i > 0 && sorted[i - 1].End > e.Start)
                throw new ArgumentException($"memory map entries at 0x{sorted[i - 1].Start:x} and 0x{e.Start:x} overlap");
        }
        Entries = sorted;
    }

    public IReadOnlyList<MemoryMapEntry> Entries { get; }

    /// <summary>The standard PC layout for <paramref name="ramBytes"/> of RAM: RAM [0, 0x9FC00), reserved
    /// [0x9FC00, 1 MiB) (EBDA, VGA, BIOS), RAM [1 MiB, min(size, 3 GiB)), and whatever exceeds 3 GiB at 4 GiB.
    /// The VMM backs [0, min(size, 3 GiB)) with one region at 0 and the rest with one region at 4 GiB.</summary>
    public static MemoryMap ForPc(ulong ramBytes)
    {
        if (ramBytes < PcLayout.OneMiB)
            throw new ArgumentOutOfRangeException(nameof(ramBytes), $"a PC needs at least 1 MiB of RAM, not {ramBytes} bytes");
        var entries = new List<MemoryMapEntry>
        {
            new(0, PcLayout.LowRamEnd, MemoryType.Ram),
            new(PcLayout.LowRamEnd, PcLayout.OneMiB - PcLayout.LowRamEnd, MemoryType.Reserved),
        };
        ulong below3G = Math.Min(ramBytes, PcLayout.MmioHoleStart);
        if (below3G > PcLayout.OneMiB) entries.Add(new(PcLayout.OneMiB, below3G - PcLayout.OneMiB, MemoryType.Ram));
        if (ramBytes > PcLayout.MmioHoleStart) entries.Add(new(PcLayout.HighMemoryStart, ramBytes - PcLayout.MmioHoleStart, MemoryType.Ram));
        return new MemoryMap(entries);
    }

    /// <summary>True if every byte of [start, end) is RAM (adjacent RAM entries count as one).</summary>
    public bool IsRamRange(ulong start, ulong end)
    {
        if (end <= start) return end == start;
        ulong next = start;
        foreach (var e in Entries)
        {
            if (e.End <= next) continue;
            if (e.Start > next || e.Type != MemoryType.Ram) return false;
            next = e.End;
            if (next >= end) return true;
        }
        return false;
    }

    public bool IsRamRange(PhysicalRange range) => IsRamRange(range.Start, range.End);

    /// <summary>RAM bytes in all entries.</summary>
    public ulong TotalRamBytes => Entries.Where(e => e.Type == MemoryType.Ram).Aggregate(0UL, (sum, e) => sum + e.Length);

    /// <summary>Multiboot mem_lower: KiB of RAM contiguous from address 0, at most 640.</summary>
    public uint LowerMemoryKiB => (uint)(Math.Min(ContiguousRamFrom(0), 640UL * 1024) / 1024);

    /// <summary>Multiboot mem_upper: KiB of RAM contiguous from 1 MiB (up to the first hole), at most 4 GiB - 1 MiB.</summary>
    public uint UpperMemoryKiB => (uint)(Math.Min(ContiguousRamFrom(PcLayout.OneMiB), PcLayout.HighMemoryStart - PcLayout.OneMiB) / 1024);

    /// <summary>Bytes of RAM that start at <paramref name="address"/> without a gap.</summary>
    public ulong ContiguousRamFrom(ulong address)
    {
        ulong next = address;
        foreach (var e in Entries)
        {
            if (e.End <= next) continue;
            if (e.Start > next || e.Type != MemoryType.Ram) break;
            next = e.End;
        }
        return next - address;
    }
}
