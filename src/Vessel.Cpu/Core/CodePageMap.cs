using System.Runtime.CompilerServices;

namespace Vessel.Cpu;

/// <summary>Which guest-physical pages hold decoded code, shared by every vCPU of a VM. Each page has a
/// generation: 0 = never decoded; a write to a code page bumps it, which invalidates every block decoded
/// from that page on every vCPU (blocks compare their generation before running). Generations and the epoch
/// are 64-bit: a guest drives them (a write to a code page is one bump), and a 32-bit generation that came
/// round to a cached block's again would run that block's stale decode of rewritten code.</summary>
internal sealed unsafe class CodePageMap
{
    /// <summary>Pinned: translated code compares a block's generation at its address (see
    /// <see cref="GenerationPointer"/>).</summary>
    private long[] _generation = [];
    /// <summary>Arrays a resize replaced, kept alive: translated code may still read one until its vCPU sees the epoch.</summary>
    private readonly List<long[]> _retired = [];
    private long _epoch;

    /// <summary>Bumped whenever a page first becomes code, so vCPUs drop write-TLB entries that would let a
    /// write reach it without this map seeing it (and by <see cref="CodeCacheBudget"/>'s flushes, which the
    /// vCPUs notice at the same check).</summary>
    public long Epoch => Volatile.Read(ref _epoch);

    public void BumpEpoch() => Interlocked.Increment(ref _epoch);

    public void Resize(ulong physicalEnd)
    {
        ulong pages = (physicalEnd + 4095) >> 12;
        if ((ulong)_generation.Length >= pages) return;
        var g = GC.AllocateArray<long>(checked((int)pages), pinned: true);
        _generation.CopyTo(g, 0);
        _retired.Add(_generation);
        _generation = g;
        BumpEpoch(); // generation pointers into the old array are stale
    }

    /// <summary>Where the generation of <paramref name="phys"/>'s page lives (null beyond the map), valid until the
    /// next <see cref="Epoch"/> bump.</summary>
    public long* GenerationPointer(ulong phys)
    {
        ulong page = phys >> 12;
        var g = _generation;
        return page < (ulong)g.Length ? (long*)Unsafe.AsPointer(ref g[page]) : null;
    }

    public bool IsCode(ulong phys)
    {
        ulong page = phys >> 12;
        var g = _generation;
        return page < (ulong)g.Length && Volatile.Read(ref g[page]) != 0;
    }

    public long Generation(ulong phys)
    {
        ulong page = phys >> 12;
        var g = _generation;
        return page < (ulong)g.Length ? Volatile.Read(ref g[page]) : 0;
    }

    /// <summary>Marks a page as holding code and returns its generation.</summary>
    public long MarkCode(ulong phys)
    {
        ulong page = phys >> 12;
        var g = _generation;
        if (page >= (ulong)g.Length) return 0;
        if (Volatile.Read(ref g[page]) == 0 && Interlocked.CompareExchange(ref g[page], 1, 0) == 0)
            BumpEpoch();
        return Volatile.Read(ref g[page]);
    }

    public void Invalidate(ulong phys)
    {
        ulong page = phys >> 12;
        var g = _generation;
        if (page >= (ulong)g.Length || Volatile.Read(ref g[page]) == 0) return;
        // 0 means "never code": a generation that wraps skips it, so the page stays code.
        if (Interlocked.Increment(ref g[page]) == 0) Interlocked.CompareExchange(ref g[page], 1, 0);
    }

    /// <summary>Invalidates every code page in [phys, phys+length) (device DMA, loaders).</summary>
    public void InvalidateRange(ulong phys, ulong length)
    {
        if (length == 0) return;
        for (ulong p = phys & ~0xFFFUL; p < phys + length; p += 4096) Invalidate(p);
    }

    /// <summary>Sets a code page's generation, for tests that drive it to where a narrower counter would wrap.</summary>
    internal void SetGenerationForTests(ulong phys, long generation) => Volatile.Write(ref _generation[phys >> 12], generation);
}
