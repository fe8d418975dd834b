using System.Runtime.CompilerServices;

namespace Vessel.Cpu;

/// <summary>Which guest-physical pages hold decoded code, shared by every vCPU of a VM. Each page has a
/// generation: 0 = never decoded; a write to a watched page bumps it, which invalidates every block decoded
/// from that page on every vCPU (blocks compare their generation before running). Generations and the epoch
/// are 64-bit: a guest drives them (a write to a code page is one bump), and a 32-bit generation that came
/// round to a cached block's again would run that block's stale decode of rewritten code.
/// <para>A page is watched (<see cref="IsCode"/>: writes to it go the slow way, through <see cref="Invalidate"/>)
/// from a decode until the first write after it: that write leaves every block decoded from the page stale, so
/// nothing is left to protect and later writes may go through the write TLB again, until the page is decoded
/// again. Pages the guest reuses for data once code of theirs ran (freed page-cache and anonymous pages, a static
/// binary's last text page shared with .data) no longer take every write the slow way: that was 1.5 M slow
/// writes in the awk + sort mix. A watched/generation pair changes under <see cref="_transition"/>, so no block
/// is ever left valid on an unwatched page.</para>
/// <para>A block whose one instruction runs into the next page holds bytes of two pages. Its second page is watched
/// with its first as a dependent (<see cref="MarkCodeRunningInto"/>): a write to the second page bumps the first's
/// generation too, so the first page's generation alone says whether such a block still holds its bytes, and chain
/// links and jump-cache slots, which compare only that one, may lead to it.</para></summary>
internal sealed unsafe class CodePageMap
{
    /// <summary>Pinned: translated code compares a block's generation at its address (see
    /// <see cref="GenerationPointer"/>).</summary>
    private long[] _generation = [];
    /// <summary>Per page, 1 while writes to it must invalidate (see the class summary); changed under <see cref="_transition"/>.</summary>
    private byte[] _watched = [];
    private readonly Lock _transition = new();
    /// <summary>Arrays a resize replaced, kept alive: translated code may still read one until its vCPU sees the epoch.</summary>
    private readonly List<long[]> _retired = [];
    /// <summary>Per watched page, the pages holding blocks that run into it (see the class summary), under
    /// <see cref="_transition"/>; dropped when the page stops being watched.</summary>
    private readonly Dictionary<ulong, List<ulong>> _dependents = [];
    private long _epoch;

    /// <summary>Bumped whenever a page becomes watched (see the class summary), so vCPUs drop write-TLB entries
    /// that would let a write reach it without this map seeing it (and by <see cref="CodeCacheBudget"/>'s flushes,
    /// which the vCPUs notice at the same check).</summary>
    public long Epoch => Volatile.Read(ref _epoch);

    public void BumpEpoch() => Interlocked.Increment(ref _epoch);

    public void Resize(ulong physicalEnd)
    {
        ulong pages = (physicalEnd + 4095) >> 12;
        if ((ulong)_generation.Length >= pages) return;
        lock (_transition)
        {
            var g = GC.AllocateArray<long>(checked((int)pages), pinned: true);
            var w = new byte[pages];
            _generation.CopyTo(g, 0);
            _watched.CopyTo(w, 0);
            _retired.Add(_generation);
            _watched = w;
            _generation = g;
        }
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

    /// <summary>Whether a write to <paramref name="phys"/> must go through <see cref="Invalidate"/> (blocks decoded
    /// from its page may still be valid).</summary>
    public bool IsCode(ulong phys)
    {
        ulong page = phys >> 12;
        var w = _watched;
        return page < (ulong)w.Length && Volatile.Read(ref w[page]) != 0;
    }

    public long Generation(ulong phys)
    {
        ulong page = phys >> 12;
        var g = _generation;
        return page < (ulong)g.Length ? Volatile.Read(ref g[page]) : 0;
    }

    /// <summary>Marks a page as holding code (watched) and returns its generation.</summary>
    public long MarkCode(ulong phys) => MarkCode(phys, out _);

    /// <summary>As <see cref="MarkCode(ulong)"/>; <paramref name="newlyWatched"/> says the page was not watched
    /// before, so the caller's own write TLB may still map it (other vCPUs drop theirs at the epoch bump).</summary>
    public long MarkCode(ulong phys, out bool newlyWatched)
    {
        newlyWatched = false;
        ulong page = phys >> 12;
        var w = _watched;
        var g = _generation;
        if (page >= (ulong)g.Length || page >= (ulong)w.Length) return 0;
        if (Volatile.Read(ref w[page]) != 0) return Volatile.Read(ref g[page]);
        lock (_transition)
        {
            w = _watched;
            g = _generation;
            if (w[page] == 0)
            {
                if (g[page] == 0) Volatile.Write(ref g[page], 1);
                Volatile.Write(ref w[page], 1);
                newlyWatched = true;
                BumpEpoch();
            }
            return g[page];
        }
    }

    /// <summary>Watches <paramref name="phys"/>'s page, which an instruction decoded from the page at
    /// <paramref name="fromPhys"/> runs into, and returns its generation: from now on a write to it bumps the
    /// generation of <paramref name="fromPhys"/>'s page too (see the class summary).</summary>
    public long MarkCodeRunningInto(ulong phys, ulong fromPhys, out bool newlyWatched)
    {
        ulong page = phys >> 12, from = fromPhys >> 12;
        if (from == page) return MarkCode(phys, out newlyWatched);
        lock (_transition)
        {
            long generation = MarkCode(phys, out newlyWatched);
            if (generation == 0 || _watched[page] == 0) return generation;
            if (!_dependents.TryGetValue(page, out List<ulong>? dependents)) _dependents[page] = dependents = [];
            if (!dependents.Contains(from)) dependents.Add(from);
            return generation;
        }
    }

    /// <summary>A write reached a watched page: every block decoded from it, or running into it, is stale from now
    /// on, and the page is no longer watched.</summary>
    public void Invalidate(ulong phys)
    {
        ulong page = phys >> 12;
        var w = _watched;
        if (page >= (ulong)w.Length || Volatile.Read(ref w[page]) == 0) return;
        lock (_transition)
        {
            if (!InvalidateLocked(page)) return;
            if (_dependents.Remove(page, out List<ulong>? dependents))
                foreach (ulong from in dependents) InvalidateLocked(from);
        }
    }

    private bool InvalidateLocked(ulong page)
    {
        var w = _watched;
        var g = _generation;
        if (page >= (ulong)w.Length || w[page] == 0) return false;
        Volatile.Write(ref w[page], 0);
        // 0 means "never code": a generation that wraps skips it.
        long next = g[page] + 1;
        Volatile.Write(ref g[page], next == 0 ? 1 : next);
        return true;
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
