namespace Vessel.Cpu;

/// <summary>The one bound on host memory that grows with guest code, shared by every vCPU of a VM: decoded blocks
/// (their instructions and fast forms, page-crossing ones included) are charged when their objects are made, and
/// the host code translated from hot ones when translated. Block objects with arrays are not left to the garbage collector:
/// a vCPU keeps the ones its sets evict for reuse, and a flush hands every one to this VM-wide free list, by array size,
/// so the host memory they take stays within the budget whatever the guest does; compact blocks (their bytes only, see
/// <see cref="BlockCompactor"/>) have nothing to reuse and are released to it when evicted. When a charge does not fit,
/// every vCPU's code cache is flushed, as QEMU flushes its translation buffer when full: a vCPU outside
/// <see cref="RunLoop.Run"/> or halted there and then, a running one at its next block lookup (it notices through
/// <see cref="CodePageMap.Epoch"/>, which it checks there already).
/// Without this, each vCPU kept up to 32 Ki blocks of 5 KiB whatever the guest: a guest calling a million distinct
/// addresses held 180 MB of host memory per vCPU. What does not grow with guest code is not charged: the block-cache
/// sets (256 KiB per vCPU), the TLBs, and the code-page map (8 bytes per 4 KiB page of guest RAM).</summary>
internal sealed class CodeCacheBudget(long limitBytes, CodePageMap code)
{
    /// <summary>128 MiB per VM. Debian's kernel booting to a shell holds, by estimate from its 2026-12-05 profile,
    /// some 40 000 decoded blocks (about 1.2 KiB each) and 8 600 compiled ones (about 6 KiB each), near 100 MB; a
    /// budget below that would flush, and compile again, during every boot.</summary>
    public const long DefaultBytes = 128L << 20;

    /// <summary>Block array sizes 4, 8, 12, ... 64 (<see cref="DecodedBlock.CapacityFor"/>): free blocks are kept
    /// by size.</summary>
    public const int SizeClasses = DecodedBlock.MaxInstructions / DecodedBlock.CapacityStep;

    private long _used;
    private long _flushEpoch;
    private RunLoop[] _loops = [];
    private readonly Stack<DecodedBlock>[] _free = NewSizeClassStacks();

    public long LimitBytes { get; } = limitBytes;

    /// <summary>Bytes charged now.</summary>
    public long UsedBytes => Volatile.Read(ref _used);

    /// <summary>How many flushes there have been; a vCPU whose cache predates the latest drops it.</summary>
    public long FlushEpoch => Volatile.Read(ref _flushEpoch);

    public static int SizeClassOf(int capacity) => capacity / DecodedBlock.CapacityStep - 1;

    public static Stack<DecodedBlock>[] NewSizeClassStacks()
    {
        var stacks = new Stack<DecodedBlock>[SizeClasses];
        for (int i = 0; i < stacks.Length; i++) stacks[i] = new Stack<DecodedBlock>();
        return stacks;
    }

    public void Register(RunLoop loop)
    {
        lock (_free) _loops = [.. _loops, loop];
    }

    /// <summary>Charges <paramref name="bytes"/> unless that would pass the limit.</summary>
    public bool TryCharge(long bytes)
    {
        long used = Volatile.Read(ref _used);
        while (true)
        {
            if (used + bytes > LimitBytes) return false;
            long seen = Interlocked.CompareExchange(ref _used, used + bytes, used);
            if (seen == used) return true;
            used = seen;
        }
    }

    public void Release(long bytes) => Interlocked.Add(ref _used, -bytes);

    /// <summary>Charges <paramref name="bytes"/>, giving up free blocks (to the garbage collector) to make room if
    /// need be; false when even that is not enough.</summary>
    public bool TryChargeDroppingFree(long bytes)
    {
        if (TryCharge(bytes)) return true;
        lock (_free)
        {
            for (int c = SizeClasses - 1; c >= 0; c--)
            {
                while (_free[c].TryPop(out DecodedBlock? dropped))
                {
                    Release(DecodedBlock.FootprintBytes(dropped.Instructions.Length));
                    if (TryCharge(bytes)) return true;
                }
            }
        }
        return false;
    }

    /// <summary>A free block with arrays of <paramref name="capacity"/>, if there is one.</summary>
    public DecodedBlock? TakeFree(int capacity)
    {
        lock (_free) return _free[SizeClassOf(capacity)].TryPop(out DecodedBlock? block) ? block : null;
    }

    /// <summary>Takes back blocks a vCPU flushed (links and compiled forms already dropped).</summary>
    public void GiveBack(List<DecodedBlock> blocks)
    {
        lock (_free)
            foreach (DecodedBlock block in blocks) _free[SizeClassOf(block.Instructions.Length)].Push(block);
    }

    /// <summary>Flushes every vCPU's code cache: every idle one's now, the running ones' at their next block lookup;
    /// <paramref name="requester"/>'s now if <paramref name="flushRequesterNow"/> (it must not be running a cached
    /// block then: its blocks go to other vCPUs), else at its own next lookup.</summary>
    public void FlushAll(RunLoop requester, bool flushRequesterNow)
    {
        Interlocked.Increment(ref _flushEpoch);
        code.BumpEpoch();
        foreach (RunLoop loop in Volatile.Read(ref _loops))
            if (loop != requester) loop.TryFlushCodeCacheWhileIdle();
        if (flushRequesterNow) requester.FlushCodeCache();
    }
}
