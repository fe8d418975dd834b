using Iced.Intel;
using Vessel.Cpu.Native;

namespace Vessel.Cpu;

/// <summary>This vCPU's part of the VM's <see cref="CodeCacheBudget"/>: where its cached blocks come from, and
/// flushing them, by its own thread or, while it is outside <see cref="Run"/> or halted, by another vCPU's.</summary>
internal sealed partial class RunLoop
{
    /// <summary>Held by the thread inside <see cref="Run"/> (released while halted): whoever holds it may touch
    /// the block cache.</summary>
    private readonly object _codeCacheOwner = new();
    private long _seenFlushEpoch;

    /// <summary>Blocks this vCPU's sets evicted, by array size, for its own reuse: links from its cached blocks
    /// may still lead to them (a link is checked before it is followed), so they go to other vCPUs only when
    /// all of this vCPU's blocks do, at a flush.</summary>
    private readonly Stack<DecodedBlock>[] _spareBlocks = CodeCacheBudget.NewSizeClassStacks();
    private readonly List<DecodedBlock> _flushed = new();

    /// <summary>Keeps translated blocks' bytes instead of their arrays, and decodes them again when needed.</summary>
    private readonly BlockCompactor _compactor = new();
    internal BlockCompactor Compactor => _compactor;

    /// <summary>Blocks this vCPU ran without caching because the budget was full even after a flush (other
    /// vCPUs had not dropped theirs yet).</summary>
    internal long UncachedForBudget;

    /// <summary>A block object with arrays of <paramref name="capacity"/>: a spare of this vCPU's, a free one of the
    /// VM's, or a new one if the budget has room; null if it has none.</summary>
    private DecodedBlock? ObtainBlock(int capacity)
    {
        if (_spareBlocks[CodeCacheBudget.SizeClassOf(capacity)].TryPop(out DecodedBlock? block)) return block;
        block = _machine.CodeCache.TakeFree(capacity);
        if (block != null) return block;
        return _machine.CodeCache.TryChargeDroppingFree(DecodedBlock.FootprintBytes(capacity)) ? new DecodedBlock(capacity) : null;
    }

    /// <summary>Keeps an evicted block for this vCPU's reuse; a compact one, with no arrays to reuse, is dropped.</summary>
    private void KeepSpare(DecodedBlock block)
    {
        DropCompiled(block);
        if (block.IsCompact) _compactor.Drop(block, _machine.CodeCache);
        else _spareBlocks[CodeCacheBudget.SizeClassOf(block.Instructions.Length)].Push(block);
    }


    /// <summary>Makes a block just translated compact (<see cref="BlockCompactor"/>) if it is in the cache. A link may
    /// lead to an evicted block, a spare still valid for its address, which then runs and may be translated: it stays
    /// as it is, since spares are reused for their arrays.</summary>
    private void MakeCompactIfCached(DecodedBlock block)
    {
        int set = BlockCacheSetOf(block.PhysicalAddress);
        for (int way = 0; way < BlockCacheWays; way++)
        {
            if (_blocks[set + way] != block) continue;
            _compactor.TryMakeCompact(block, _memory, _machine.CodeCache);
            return;
        }
    }

    /// <summary>Caches the 64-bit block just decoded into <paramref name="decoded"/> as a compact one (see
    /// <see cref="BlockCompactor"/>) in way <paramref name="way"/> of <paramref name="set"/> (the stale block there, an
    /// empty way, or past the last: the least recent one goes); null if it cannot be (then it gets arrays as before).</summary>
    private DecodedBlock? CacheCompact(DecodedBlock decoded, int set, int way, DecodedBlock? stale)
    {
        // With the native tier only: the interpreter tier (the tests' reference) and runs without fast forms (the
        // scratch's are classified) keep their arrays.
        if (_nativeThreshold == 0) return null;
        DecodedBlock? compact = _compactor.TryNewCompact(decoded, _memory, _machine.CodeCache);
        if (compact == null) return null;
        if (stale == null && way == BlockCacheWays) way = BlockCacheWays - 1;
        if ((stale ?? _blocks[set + way]) is { } evicted) KeepSpare(evicted);
        _blocks[set + way] = compact;
        MoveToFront(set, way);
        return compact;
    }

    private void DropCompiled(DecodedBlock block)
    {
        DropNative(block);
        if (block.CompiledBytes == 0) return;
        _machine.CodeCache.Release(block.CompiledBytes);
        block.CompiledBytes = 0;
    }

    /// <summary>Whether <paramref name="stale"/>, a translated block at the address just decoded afresh into
    /// <paramref name="decoded"/> because its page was written, decodes to the very same instructions: then its
    /// translation (a function of those instructions alone) holds for the page's new generation, and the block takes
    /// that generation instead of being translated again. The write hit data sharing the page with code, or wrote
    /// back the bytes that were there: in the awk profile 24,761 of 62,788 decodes were of a written page. The new
    /// decode marked the page as watched before reading it, as any decode does, so the guarantees are a decode's.
    /// Chain links into and out of the block were made under the old generation, with blocks that may have changed:
    /// they go, and are made again between blocks valid together.</summary>
    private bool KeepsTranslation(DecodedBlock stale, DecodedBlock decoded)
    {
        if (stale.Native is not { } native || stale.Count != decoded.Count
            || stale.SecondPage != DecodedBlock.NoSecondPage || decoded.SecondPage != DecodedBlock.NoSecondPage) return false;
        Instruction[] kept = (stale.IsCompact ? _compactor.Expanded(stale) : stale).Instructions, fresh = decoded.Instructions;
        for (int i = 0; i < decoded.Count; i++)
            if (!Instruction.EqualsAllBits(kept[i], fresh[i])) return false;
        NativeChaining.UnlinkKeepingCode(_machine.NativeCode, native);
        _jumpCache.Remove(native);
        stale.Generation = decoded.Generation;
        stale.Link0 = stale.Link1 = null;
        if (EmuProfiler.Enabled) _cpu.Counters.TranslationsKept++;
        return true;
    }

    /// <summary>Hands every cached and spare block to the VM's free list, dropping compiled forms and links.</summary>
    internal void FlushCodeCache()
    {
        _seenFlushEpoch = _machine.CodeCache.FlushEpoch;
        DecodedBlock?[] blocks = _blocks;
        for (int i = 0; i < blocks.Length; i++)
        {
            if (blocks[i] is not { } block) continue;
            DropCompiled(block);
            block.Link0 = block.Link1 = null;
            if (block.IsCompact) _compactor.Drop(block, _machine.CodeCache);
            else _flushed.Add(block);
            blocks[i] = null;
        }
        foreach (Stack<DecodedBlock> spares in _spareBlocks)
        {
            foreach (DecodedBlock block in spares) block.Link0 = block.Link1 = null;
            _flushed.AddRange(spares);
            spares.Clear();
        }
        _machine.CodeCache.GiveBack(_flushed);
        _flushed.Clear();
        _crossPageLinkTargets.Clear(); // every translation is gone, and the jumps into them with it
        _lastBlock = null;
        _uncachedBlock.Link0 = _uncachedBlock.Link1 = null;
    }

    /// <summary>Flushes this vCPU's cache from another thread if it is not running (outside Run, or halted); a
    /// running vCPU flushes its own at its next block lookup.</summary>
    internal void TryFlushCodeCacheWhileIdle()
    {
        if (!Monitor.TryEnter(_codeCacheOwner)) return;
        try
        {
            FlushCodeCacheIfStale();
        }
        finally
        {
            Monitor.Exit(_codeCacheOwner);
        }
    }

    /// <summary>A flush another vCPU asked for: noticed at the block lookup.</summary>
    private void FlushCodeCacheIfStale()
    {
        if (_seenFlushEpoch != _machine.CodeCache.FlushEpoch) FlushCodeCache();
    }
}
