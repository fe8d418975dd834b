namespace Vessel.Cpu;

/// <summary>Which guest-physical pages hold decoded code, shared by every vCPU of a VM. Each page has a
/// generation: 0 = never decoded; a write to a code page bumps it, which invalidates every block decoded
/// from that page on every vCPU (blocks compare their generation before running).</summary>
internal sealed class CodePageMap
{
    private int[] _generation = [];
    /// <summary>Bumped whenever a page first becomes code, so vCPUs drop write-TLB entries that would
    /// let a write reach it without this map seeing it.</summary>
    public volatile int Epoch;

    public void Resize(ulong physicalEnd)
    {
        ulong pages = (physicalEnd + 4095) >> 12;
        if ((ulong)_generation.Length >= pages) return;
        var g = new int[pages];
        _generation.CopyTo(g, 0);
        _generation = g;
    }

    public bool IsCode(ulong phys)
    {
        ulong page = phys >> 12;
        var g = _generation;
        return page < (ulong)g.Length && g[page] != 0;
    }

    public int Generation(ulong phys)
    {
        ulong page = phys >> 12;
        var g = _generation;
        return page < (ulong)g.Length ? Volatile.Read(ref g[page]) : 0;
    }

    /// <summary>Marks a page as holding code and returns its generation.</summary>
    public int MarkCode(ulong phys)
    {
        ulong page = phys >> 12;
        var g = _generation;
        if (page >= (ulong)g.Length) return 0;
        if (Volatile.Read(ref g[page]) == 0 && Interlocked.CompareExchange(ref g[page], 1, 0) == 0)
            Interlocked.Increment(ref Epoch);
        return Volatile.Read(ref g[page]);
    }

    public void Invalidate(ulong phys)
    {
        ulong page = phys >> 12;
        var g = _generation;
        if (page < (ulong)g.Length && g[page] != 0) Interlocked.Increment(ref g[page]);
    }

    /// <summary>Invalidates every code page in [phys, phys+length) (device DMA, loaders).</summary>
    public void InvalidateRange(ulong phys, ulong length)
    {
        if (length == 0) return;
        for (ulong p = phys & ~0xFFFUL; p < phys + length; p += 4096) Invalidate(p);
    }
}
