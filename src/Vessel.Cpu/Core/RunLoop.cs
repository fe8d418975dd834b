using Iced.Intel;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>The run loop of one vCPU: find or decode the block at RIP, execute it, turn faults into exception
/// delivery and exits into <see cref="VcpuExit"/>s. It owns the decoded-block cache and the entry into translated
/// code; the CPU (<see cref="X86Cpu"/>) owns the architectural state and the instructions.</summary>
internal sealed unsafe partial class RunLoop
{
    private readonly X86Cpu _cpu;
    private readonly EmuMachineContext _machine;
    private readonly GuestMemory _memory;
    private readonly Mmu _mmu;
    private readonly PendingExits _exits;

    public RunLoop(X86Cpu cpu, EmuMachineContext machine)
    {
        _cpu = cpu;
        _machine = machine;
        _memory = machine.Memory;
        _mmu = cpu.MemoryUnit;
        _exits = cpu.Exits;
        _fastPaths = machine.Options.FastPaths;
        _nativeThreshold = NativeThreshold(machine.Options);
        _codeReader = new GuestCodeReader(this);
        _decoder16 = Decoder.Create(16, _codeReader);
        _decoder32 = Decoder.Create(32, _codeReader);
        _decoder64 = Decoder.Create(64, _codeReader);
        machine.CodeCache.Register(this);
    }

    /// <summary>Decoded blocks by guest-physical start address: a set of <see cref="BlockCacheWays"/> blocks per
    /// hash, most recently found first, the least recent evicted. Direct-mapped, two hot blocks whose addresses
    /// collided (a lock and a timer function in the idle loop) evicted each other on every pass, and each was
    /// decoded and compiled to IL again: half of the boot's block compilations and most of an idle guest's CPU.</summary>
    private readonly DecodedBlock?[] _blocks = new DecodedBlock?[BlockCacheSets * BlockCacheWays];
    private const int BlockCacheSetBits = 13, BlockCacheSets = 1 << BlockCacheSetBits;
    internal const int BlockCacheWays = 4;

    /// <summary>The first slot of the block-cache set a block starting at guest-physical <paramref name="physical"/> belongs to.</summary>
    internal static int BlockCacheSetOf(ulong physical) =>
        (int)((physical * 0x9E37_79B9_7F4A_7C15UL) >> (64 - BlockCacheSetBits)) * BlockCacheWays;
    private readonly GuestCodeReader _codeReader;
    private readonly Decoder _decoder16, _decoder32, _decoder64;
    /// <summary>Where blocks are decoded, before a cached block of the right size takes a copy; run from here
    /// when the block must not be cached (code outside RAM, or no room in the budget).</summary>
    private readonly DecodedBlock _uncachedBlock = new();
    private long _seenCodeEpoch;
    /// <summary>The block that ran last, whose links may lead straight to the next one.</summary>
    private DecodedBlock? _lastBlock;
    private readonly bool _fastPaths;

    /// <summary>Stopwatch timestamp at which the platform's timers next need this vCPU to poll them.</summary>
    private long _nextPoll;

    /// <summary>Run-loop passes left before the host clock is read again to compare with <see cref="_nextPoll"/>.
    /// Reading it before every block (a vDSO clock_gettime) was 5.7 % of a boot's host samples; a pass runs at
    /// most <see cref="NativeTranslator.LoopBudget"/> chained blocks, so a timer is seen at most this many passes
    /// late (a few microseconds of guest time), and a timer (re)armed or a wake-up resets the count.</summary>
    private int _passesUntilClockRead;
    internal const int PassesPerClockRead = 16;

    /// <summary>A timer was (re)armed: poll at the next block boundary (the CPU wakes a halted vCPU).</summary>
    public void RequestPoll()
    {
        _nextPoll = 0;
        _passesUntilClockRead = 0;
    }

    public VcpuExit Run()
    {
        Monitor.Enter(_codeCacheOwner);
        try
        {
            return RunOwningCodeCache();
        }
        finally
        {
            Monitor.Exit(_codeCacheOwner);
        }
    }

    private VcpuExit RunOwningCodeCache()
    {
        X86Cpu cpu = _cpu;
        // The further device writes of an instruction that made several (a page-crossing or 16-byte store to
        // MMIO, ENTER's pushes onto an MMIO stack) go out one per Run, in order, before anything else runs.
        if (_exits.HasPending) return _exits.Take();
        while (true)
        {
            if (cpu.KickRequested)
            {
                cpu.KickRequested = false;
                return VcpuExit.Interrupted();
            }

            if (cpu.StartupSignalsPending && cpu.ProcessStartupSignals())
            {
                WaitForInterrupt();
                continue;
            }

            // An instruction waiting for its IN/MMIO value runs before anything else can intervene.
            if (!_exits.HasCompletedRead)
            {
                if (--_passesUntilClockRead <= 0) PollTimersIfDue();
                try
                {
                    if (cpu.DeliverPendingInterrupt()) cpu.Halted = false;
                }
                catch (CpuFault f)
                {
                    cpu.DeliverFault(f);
                }
                if (_exits.HasPending) return _exits.Take();
                if (cpu.Halted)
                {
                    WaitForInterrupt();
                    _passesUntilClockRead = 0; // woken by a deadline, perhaps: look at the clock at once
                    continue;
                }
            }

            bool replaying = _exits.HasCompletedRead;
            try
            {
                ExecuteBlock();
                if (replaying) _exits.EndReplay();
            }
            catch (CpuFault f)
            {
                if (replaying) _exits.EndReplay();
                cpu.Rip = cpu.State.InstructionStart;
                _exits.DropPending();
                cpu.DeliverFault(f);
            }
            catch (ExitToVmm)
            {
                cpu.Rip = cpu.State.InstructionStart;
                return _exits.Take();
            }
            catch (EmulationException ex)
            {
                cpu.Rip = cpu.State.InstructionStart;
                return VcpuExit.InternalError(ex.Message);
            }
            if (_exits.HasPending) return _exits.Take();
        }
    }

    private void PollTimersIfDue()
    {
        _passesUntilClockRead = PassesPerClockRead;
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        if (now < _nextPoll) return;
        _cpu.Prof(ProfileMode.Poll);
        if (EmuProfiler.Enabled) _cpu.Counters.Polls++;
        _nextPoll = _machine.Platform.Poll(_cpu, now);
        _cpu.Prof(ProfileMode.Loop);
    }

    private void WaitForInterrupt()
    {
        if (EmuProfiler.Enabled) { _cpu.ProfMode = (byte)ProfileMode.Halt; _cpu.Counters.Halts++; }
        _heat.NoteHalt(System.Diagnostics.Stopwatch.GetTimestamp());
        // Halted, the vCPU lets other vCPUs flush its code cache (CodeCacheBudget) rather than hold the budget.
        Monitor.Exit(_codeCacheOwner);
        try
        {
            _machine.Platform.WaitForWake(_cpu);
        }
        finally
        {
            Monitor.Enter(_codeCacheOwner);
        }
        _cpu.Prof(ProfileMode.Loop);
    }

    /// <summary>Blocks run back to back through their links before the run loop looks at kicks, interrupts
    /// and timers again: a bound on event latency that keeps the per-block cost low.</summary>
    private const int ChainedBlockBudget = 32;

    private void ExecuteBlock()
    {
        DecodedBlock block = GetBlock();
        int budget = ChainedBlockBudget;
        while (true)
        {
            _lastBlock = block;
            RunBlockBody(block);
            if (_cpu.BlockEnded || _exits.HasPending || --budget == 0 || _cpu.KickRequested) return;
            // Translated code may have ended in another block than the one entered: its links are the ones to try.
            DecodedBlock? next = _lastBlock is { } last ? LinkedSuccessor(last) : null;
            if (next == null) return;
            if (EmuProfiler.Enabled) _cpu.Counters.ChainFollowed++;
            block = next;
        }
    }

    private void RunBlockBody(DecodedBlock block)
    {
        X86Cpu cpu = _cpu;
        bool singleStep = (cpu.State.Rflags & Hypervisor.RflagsBits.Tf) != 0;
        if (EmuProfiler.Enabled) cpu.Counters.BlocksRun++;
        bool oneInstruction = cpu.InterruptShadow || singleStep || _exits.HasCompletedRead;
        if (!oneInstruction && TryRunCompiled(block)) return;
        DecodedBlock body = _compactor.BodyOf(block, _machine.CodeCache);
        Instruction[] instructions = body.Instructions;
        FastOp[] fastOps = body.FastOps;
        int count = block.Count;
        if (oneInstruction)
        {
            // STI / MOV SS: exactly one more instruction runs before interrupts are looked at again.
            // TF: one instruction, then the single-step trap. A device read completed: the instruction that
            // waited for it, alone (its replayed values are for it only).
            count = 1;
            cpu.InterruptShadow = false;
            cpu.BlockEnded = true;
        }
        else
        {
            cpu.BlockEnded = false;
        }
        for (int i = 0; i < count; i++)
        {
            ref Instruction ins = ref instructions[i];
            cpu.State.InstructionStart = cpu.State.Rip;
            cpu.State.Rip = ins.NextIP & cpu.IpMask;
            if (EmuProfiler.Enabled)
            {
                cpu.ProfMode = (byte)(fastOps[i].Kind == FastOpKind.Generic ? ProfileMode.Interpret : ProfileMode.Fast);
                if (fastOps[i].Kind == FastOpKind.Generic) { cpu.Counters.InstructionsGeneric++; cpu.GenericByCode[(int)ins.Code]++; }
                else cpu.Counters.InstructionsFast++;
            }
            if (!cpu.ExecuteFast(ref fastOps[i])) cpu.Execute(ref ins);
            cpu.State.InstructionsRetired++;
            if (cpu.BlockEnded) break;
        }
        cpu.Prof(ProfileMode.Loop);
        if (singleStep || cpu.SingleStepForced) cpu.SingleStepTrap();
    }

    /// <summary>The block a previous run of <paramref name="block"/> led to at the current RIP, if its link
    /// is still valid; null sends the run loop through the full lookup.</summary>
    private DecodedBlock? LinkedSuccessor(DecodedBlock block)
    {
        if (block.LinkEpoch != _cpu.LinkEpochNow || _machine.Code.Epoch != _seenCodeEpoch) return null;
        DecodedBlock? next = block.Link0;
        if (next != null && IsValidSuccessor(next)) return next;
        next = block.Link1;
        if (next != null && IsValidSuccessor(next)) return next;
        return null;
    }

    /// <summary>The cached block holding the instruction at <paramref name="rip"/>, for the profiler's report.</summary>
    internal DecodedBlock? FindCachedBlock(ulong rip)
    {
        foreach (var b in _blocks)
            if (b != null && b.Count > 0 && b.StartRip <= rip && rip < b.EndRip) return b.IsCompact ? CompactBlockDecoder.Copy(b) : b;
        return null;
    }

    private DecodedBlock GetBlock()
    {
        _cpu.State.InstructionStart = _cpu.State.Rip;
        long epoch = _machine.Code.Epoch;
        if (epoch != _seenCodeEpoch)
        {
            _seenCodeEpoch = epoch;
            _mmu.Write.Flush();
            if (EmuProfiler.Enabled) _cpu.Counters.CodeEpochFlushes++;
            FlushCodeCacheIfStale();
        }

        DecodedBlock? previous = _lastBlock;
        long linkEpoch = _cpu.LinkEpochNow;
        if (previous != null && previous.LinkEpoch == linkEpoch)
        {
            DecodedBlock? next = previous.Link0;
            if (next != null && IsValidSuccessor(next)) { if (EmuProfiler.Enabled) _cpu.Counters.LinkHits++; return next; }
            next = previous.Link1;
            if (next != null && IsValidSuccessor(next)) { if (EmuProfiler.Enabled) _cpu.Counters.LinkHits++; return next; }
        }
        DecodedBlock found = LookUpBlock();
        previous = _lastBlock; // null if the lookup flushed the cache: that block may be another vCPU's now
        if (previous != null && previous.Cacheable && found.Cacheable)
        {
            if (previous.LinkEpoch != linkEpoch)
            {
                previous.Link0 = previous.Link1 = null;
                previous.LinkEpoch = linkEpoch;
            }
            if (previous.NextLinkSlot) previous.Link1 = found; else previous.Link0 = found;
            previous.NextLinkSlot = !previous.NextLinkSlot;
        }
        return found;
    }

    // A link is followed only within the translation epoch it was made in, so the second page of a
    // page-crossing block still maps where it did; only its contents need checking.
    private bool IsValidSuccessor(DecodedBlock next)
    {
        ref CpuState state = ref _cpu.State;
        return next.StartRip == state.Rip && next.Bitness == state.Bitness && next.CsBase == state.Seg[X86Cpu.CS].Base
            && next.Generation == _machine.Code.Generation(next.PhysicalAddress)
            && (next.SecondPage == DecodedBlock.NoSecondPage || next.SecondGeneration == _machine.Code.Generation(next.SecondPage))
            && (state.Bitness == 64 || state.Rip <= state.Seg[X86Cpu.CS].Limit);
    }

    /// <summary>Whether the page a cached page-crossing block ran into still maps to the same guest-physical
    /// page (through the execute TLB, filled on a miss: a fault here is that instruction's fetch fault) and
    /// still holds the bytes it was decoded from.</summary>
    private bool SecondPageValid(DecodedBlock block, ulong linear)
    {
        ulong next = (linear | 0xFFF) + 1;
        if (_cpu.Bitness != 64) next &= 0xFFFF_FFFF;
        ref TlbEntry e = ref ExecTlbEntry(next, _cpu.UserAccess);
        return e.PhysicalPage == block.SecondPage && block.SecondGeneration == _machine.Code.Generation(block.SecondPage);
    }

    /// <summary>The execute-TLB entry for <paramref name="linear"/>, filled by a page walk on a miss. Code outside
    /// RAM reads as 0xFF bytes (see <see cref="UnbackedMemory"/>); such an entry is returned but not kept, so
    /// RAM mapped there later is seen.</summary>
    private ref TlbEntry ExecTlbEntry(ulong linear, bool user)
    {
        ref TlbEntry e = ref _mmu.Exec.EntryFor(linear);
        if (e.Tag == Tlb.TagOf(linear, user ? 1UL : 0)) return ref e;
        ulong phys = _cpu.Translate(linear, AccessKind.Execute, user);
        return ref _mmu.FillExec(linear, phys, _memory.TryGetPointer(phys & ~0xFFFUL, 4096), user);
    }

    /// <summary>Whether a fetch from the guest-physical page <paramref name="physicalPage"/> reads RAM.</summary>
    private bool IsRamPage(ulong physicalPage) => _memory.TryGetPointer(physicalPage, 4096) != null;

    private DecodedBlock LookUpBlock()
    {
        X86Cpu cpu = _cpu;
        ulong rip = cpu.Rip;
        int bitness = cpu.Bitness;
        ulong linear = cpu.CodeLinear(rip);
        ref TlbEntry e = ref ExecTlbEntry(linear, cpu.UserAccess);
        ulong physical = e.PhysicalPage | (linear & 0xFFF);
        long delta = e.Delta;
        bool outsideRam = e.Tag == TlbEntry.Invalid; // ExecTlbEntry keeps no entry for a page outside RAM
        ulong csBase = cpu.Seg[X86Cpu.CS].Base;

        int set = BlockCacheSetOf(physical);
        if (EmuProfiler.Enabled) cpu.Counters.CacheLookups++;
        DecodedBlock? block = null;
        int way = 0;
        for (; way < BlockCacheWays; way++)
        {
            DecodedBlock? candidate = _blocks[set + way];
            if (candidate == null) break;
            if (candidate.PhysicalAddress == physical && candidate.StartRip == rip && candidate.Bitness == bitness
                && candidate.CsBase == csBase)
            {
                block = candidate;
                break;
            }
        }
        if (block != null && block.Generation == _machine.Code.Generation(physical)
            && (block.SecondPage == DecodedBlock.NoSecondPage || SecondPageValid(block, linear)))
        {
            if (EmuProfiler.Enabled) cpu.Counters.CacheHits++;
            MoveToFront(set, way);
            return block;
        }

        DecodedBlock decoded = _uncachedBlock;
        cpu.Prof(ProfileMode.Decode);
        Decode(decoded, (byte*)((long)(linear & ~0xFFFUL) + delta), linear, physical, csBase);
        if (outsideRam) decoded.Cacheable = false; // RAM mapped there later must be decoded afresh
        cpu.Prof(ProfileMode.Loop);
        if (EmuProfiler.Enabled)
        {
            cpu.Counters.Decodes++;
            if (!decoded.Cacheable) cpu.Counters.UncacheableDecodes++;
            if (decoded.Generation > 1) cpu.Counters.DecodesOfInvalidatedPage++;
        }
        if (!decoded.Cacheable) return decoded;
        if (block != null && KeepsTranslation(block, decoded))
        {
            MoveToFront(set, way);
            return block;
        }

        if (CacheCompact(decoded, set, way, block) is { } compact) return compact;
        // The slot: a stale decode of this address, else an empty way, else the least recent way.
        if (block == null && way == BlockCacheWays) way = BlockCacheWays - 1;
        block ??= _blocks[set + way];
        int capacity = DecodedBlock.CapacityFor(decoded.Count);
        DecodedBlock? target = block != null && block.Instructions.Length == capacity ? block : null;
        if (target == null)
        {
            target = ObtainBlock(capacity);
            if (target == null)
            {
                _machine.CodeCache.FlushAll(this, flushRequesterNow: true); // no block of this vCPU is running now
                target = ObtainBlock(capacity);
                if (target == null)
                {
                    // Other vCPUs hold the budget until their next block lookup: run this one uncached.
                    UncachedForBudget++;
                    decoded.Cacheable = false;
                    return decoded;
                }
                way = 0; // the set is empty now
            }
            else if (block != null)
            {
                KeepSpare(block);
            }
        }
        DropCompiled(target);
        target.TakeDecode(decoded);
        _blocks[set + way] = target;
        MoveToFront(set, way);
        return target;
    }

    /// <summary>Puts way <paramref name="way"/> of a block-cache set first, shifting the more recent ones down.</summary>
    private void MoveToFront(int set, int way)
    {
        if (way == 0) return;
        DecodedBlock? found = _blocks[set + way];
        for (int i = way; i > 0; i--) _blocks[set + i] = _blocks[set + i - 1];
        _blocks[set] = found;
    }

    /// <summary>Drops the first way of a set, keeping the empty ways last (a lookup stops at the first).</summary>
    private void RemoveFront(int set)
    {
        for (int i = 0; i < BlockCacheWays - 1; i++) _blocks[set + i] = _blocks[set + i + 1];
        _blocks[set + BlockCacheWays - 1] = null;
    }

    private void Decode(DecodedBlock block, byte* page, ulong linear, ulong physical, ulong csBase)
    {
        ulong rip = _cpu.Rip;
        int bitness = _cpu.Bitness;
        block.Generation = MarkCodePage(physical);
        _decodingPage = physical & ~0xFFFUL;
        block.StartRip = rip;
        block.Bitness = bitness;
        block.CsBase = csBase;
        block.PhysicalAddress = physical;
        block.Cacheable = true;
        block.SecondPage = DecodedBlock.NoSecondPage;
        block.ExecutionCount = 0;
        Decoder decoder = bitness switch { 64 => _decoder64, 32 => _decoder32, _ => _decoder16 };
        _codeReader.Reset(page, linear & ~0xFFFUL, (int)(linear & 0xFFF));
        decoder.IP = rip;
        int n = 0;
        while (n < DecodedBlock.MaxInstructions)
        {
            int startOffset = _codeReader.Offset;
            ulong ip = decoder.IP;
            if (n > 0 && startOffset >= 4096) break;
            try
            {
                decoder.Decode(out block.Instructions[n]);
            }
            catch (CpuFault) when (n > 0)
            {
                break; // the fetch fault belongs to that later instruction: it will fault when reached
            }
            if (_codeReader.CrossedPage && n > 0)
            {
                decoder.IP = ip;
                break; // let the page-crossing instruction start a block of its own
            }
            // Every slot is classified afresh: the block object is reused, and a stale fast form would run in
            // place of the instruction now decoded there.
            block.FastOps[n] = _fastPaths ? FastOpClassifier.Classify(ref block.Instructions[n], bitness) : default;
            if (_codeReader.CrossedPage)
            {
                // One instruction that runs into the next page: a block of its own, cached with that page's
                // identity (FetchCodeByte marked it as code before reading it, so a write there invalidates it).
                block.SecondPage = _secondFetchPage;
                block.SecondGeneration = _secondFetchGeneration;
                if (!IsRamPage(_secondFetchPage)) block.Cacheable = false;
                n = 1;
                break;
            }
            ref Instruction ins = ref block.Instructions[n++];
            // A block runs on past a conditional branch (a taken one ends it early), so a loop body with an
            // if inside stays one block.
            if (ins.FlowControl != FlowControl.Next && !ins.IsJccShortOrNear || ins.Code == Code.INVALID) break;
        }
        block.Count = n;
    }

    // The page the last byte fetched by FetchCodeByte came from, and its code generation.
    private ulong _secondFetchPage;
    private long _secondFetchGeneration;
    /// <summary>The guest-physical page the block being decoded starts in.</summary>
    private ulong _decodingPage;

    /// <summary>Fetches one code byte for an instruction that runs into the next page, marking that page as
    /// code first, with the block's first page as its dependent: a write to it from now on invalidates the block
    /// being decoded, by the first page's generation too (so links and the jump cache may lead to the block).</summary>
    internal byte FetchCodeByte(ulong linear)
    {
        if (_cpu.Bitness != 64) linear &= 0xFFFF_FFFF;
        ulong phys = _cpu.Translate(linear, AccessKind.Execute, _cpu.UserAccess);
        byte* p = _memory.TryGetPointer(phys, 1);
        if (p == null) p = UnbackedMemory.AllOnesPage; // see ExecTlbEntry
        _secondFetchPage = phys & ~0xFFFUL;
        _secondFetchGeneration = _machine.Code.MarkCodeRunningInto(phys, _decodingPage, out bool newlyWatched);
        if (newlyWatched) _mmu.Write.Flush(); // as in MarkCodePage
        return *p;
    }

    /// <summary>Watches <paramref name="phys"/>'s page for writes (see <see cref="CodePageMap"/>) and returns its
    /// generation. A page watched afresh may still be in this vCPU's write TLB (written since its last decode), and a
    /// write through that entry would not invalidate the block about to run: the entries go now, not at the next
    /// lookup's epoch check.</summary>
    private long MarkCodePage(ulong phys)
    {
        long generation = _machine.Code.MarkCode(phys, out bool newlyWatched);
        if (newlyWatched) _mmu.Write.Flush();
        return generation;
    }
}
