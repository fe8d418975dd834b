using System.Runtime.CompilerServices;
using Iced.Intel;
using Vessel.Cpu.Native;

namespace Vessel.Cpu;

/// <summary>The interpreter's side of the native tier (<see cref="NativeTranslator"/>): when to translate, and the
/// loop that enters translated code and interprets the instructions it hands back.</summary>
internal sealed unsafe partial class RunLoop
{
    private readonly int _nativeThreshold;

    /// <summary>The context translated code reads (TLB addresses, user bit, loop budget), in pinned memory.</summary>
    private readonly NativeContext[] _nativeContext = GC.AllocateArray<NativeContext>(1, pinned: true);

    /// <summary>Blocks translated, entries into translated code, and instructions it handed back to the interpreter.</summary>
    internal long NativeTranslations, NativeEntries, NativeSteps;

    /// <summary>Chain slots patched, and returns from translated code that ended in another block than the one entered.</summary>
    internal long NativeLinks, NativeChainedReturns;

    /// <summary>Where translated code finds the block at a RIP it cannot link to directly (see <see cref="NativeJumpCache"/>).</summary>
    private readonly NativeJumpCache _jumpCache = new();

    /// <summary>Blocks put in the jump cache (each one a return to the run loop that translated code may skip next time).</summary>
    internal long NativeJumpCacheFills => _jumpCache.Fills;

    /// <summary>This vCPU's live translations by running id, to name the block chained code returned from.</summary>
    private readonly NativeBlockTable _nativeById = new();

    /// <summary>The translated block whose chain slot <see cref="_chainSlot"/> the last return left by, to link to
    /// the block the run loop finds next.</summary>
    private NativeBlock? _chainFrom;
    private int _chainSlot;

    /// <summary>Blocks running into a second page that chain slots jump to, linked under translation epoch
    /// <see cref="_crossPageLinksEpoch"/>: the mapping of their second page was checked then, so the jumps into them
    /// go when the epoch moves (see <see cref="NativeChaining"/>).</summary>
    private readonly List<NativeBlock> _crossPageLinkTargets = [];
    private long _crossPageLinksEpoch;

    /// <summary>More than this many blocks in <see cref="_crossPageLinkTargets"/> (dropped ones stay until the epoch
    /// moves) and the list starts afresh.</summary>
    private const int MaxCrossPageLinkTargets = 1024;

    private static int NativeThreshold(EmuOptions options) =>
        options.FastPaths && options.ResolvedTier == EmuTier.Native ? options.JitThreshold : 0;

    /// <summary>Runs a 64-bit block translated, translating it once it is hot; false leaves it to the interpreter.</summary>
    private bool TryRunNative(DecodedBlock block)
    {
        NativeBlock? native = block.Native;
        if (native == null)
        {
            if (!block.Cacheable || !_heat.CountRun(block, _nativeThreshold)) return false;
            native = TranslateNative(block);
            if (native == null) return false;
        }
        if (EmuProfiler.Enabled) { _cpu.ProfMode = (byte)ProfileMode.Compiled; _cpu.Counters.BlocksCompiledRun++; }
        if (_chainFrom != null)
        {
            UnlinkCrossPageTargetsIfRemapped();
            if (NativeChaining.TryLink(_machine.NativeCode, _chainFrom, _chainSlot, native))
            {
                NativeLinks++;
                if (block.SecondPage != DecodedBlock.NoSecondPage && native.Incoming.Count == 1) AddCrossPageLinkTarget(native);
            }
            else if (EmuProfiler.Enabled) CountRefusedLink(_chainFrom, _chainSlot, native);
            _chainFrom = null;
        }
        // The run loop has just found this block valid at RIP: translated code may jump to it from now on.
        _jumpCache.Revalidate(_cpu.TranslationEpoch, _cpu.GlobalTranslationEpoch, _machine.Code.Epoch);
        bool user = _cpu.UserAccess;
        if (!_jumpCache.Holds(native, user))
            _jumpCache.Put(native, _machine.Code.GenerationPointer(block.PhysicalAddress), user, ExecTranslationIsGlobal(block, user));
        RunNative(native);
        _cpu.Prof(ProfileMode.Loop);
        return true;
    }

    private void AddCrossPageLinkTarget(NativeBlock target)
    {
        if (_crossPageLinkTargets.Count >= MaxCrossPageLinkTargets) UnlinkCrossPageTargets();
        _crossPageLinkTargets.Add(target);
    }

    /// <summary>Before translated code runs: a block running into a second page whose mapping may have changed since
    /// it was linked to is jumped to no more (the run loop checks that mapping before it links it again).</summary>
    private void UnlinkCrossPageTargetsIfRemapped()
    {
        long epoch = _cpu.TranslationEpoch;
        if (_crossPageLinksEpoch == epoch) return;
        _crossPageLinksEpoch = epoch;
        if (_crossPageLinkTargets.Count != 0) UnlinkCrossPageTargets();
    }

    private void UnlinkCrossPageTargets()
    {
        foreach (NativeBlock target in _crossPageLinkTargets) NativeChaining.UnlinkIncoming(_machine.NativeCode, target);
        _crossPageLinkTargets.Clear();
    }

    /// <summary>Whether the execute TLB maps <paramref name="block"/>'s first page, for this level, to the page it was
    /// decoded from by a global translation (one CR3 writes keep).</summary>
    private bool ExecTranslationIsGlobal(DecodedBlock block, bool user)
    {
        ref TlbEntry e = ref _mmu.Exec.EntryFor(block.StartRip);
        return e.Global && e.Tag == Tlb.TagOf(block.StartRip, user ? 1UL : 0) && e.PhysicalPage == (block.PhysicalAddress & ~0xFFFUL);
    }

    private NativeBlock? TranslateNative(DecodedBlock block)
    {
        if (!_compactor.TryGiveArrays(block, _machine.CodeCache)) return null; // the translator reads them
        _cpu.Prof(ProfileMode.Compile);
        int id = _nativeById.Reserve();
        NativeTranslation? translation = NativeTranslator.Translate(block, id);
        _cpu.Prof(ProfileMode.Loop);
        NativeBlock? native = translation == null ? null : Place(block, translation, id);
        if (native == null) _nativeById.Release(id);
        else MakeCompactIfCached(block);
        return native;
    }

    /// <summary>Puts <paramref name="translation"/> in the VM's arena, charged to the code-cache budget; null if it
    /// does not fit (too large: not again this heat epoch; budget or arena full: flushed, translated again later).</summary>
    private NativeBlock? Place(DecodedBlock block, NativeTranslation translation, int id)
    {
        int sizeClass = ExecutableArena.SizeClassFor(translation.Code.Length);
        if (sizeClass < 0)
        {
            block.ExecutionCount = int.MinValue; // not again this heat epoch
            return null;
        }
        long bytes = ExecutableArena.BytesOf(sizeClass);
        ExecutableArena arena = _machine.NativeCode;
        if (!_machine.CodeCache.TryChargeDroppingFree(bytes))
        {
            // A full budget starts afresh, this vCPU's own cache at its next lookup.
            _machine.CodeCache.FlushAll(this, flushRequesterNow: false);
            return null;
        }
        if (!arena.TryPlace(translation.Code, block.StartRip, out CodeChunk chunk))
        {
            _machine.CodeCache.Release(bytes);
            _machine.CodeCache.FlushAll(this, flushRequesterNow: false);
            return null;
        }
        NativeTranslations++;
        if (EmuProfiler.Enabled) _cpu.Counters.Translations++;
        block.CompiledBytes = bytes;
        var native = new NativeBlock(block, chunk, arena.EntryOf(chunk), translation) { RunningId = id };
        _nativeById.Set(id, native);
        return block.Native = native;
    }

    /// <summary>Frees <paramref name="block"/>'s translation (its bytes are released by the caller).</summary>
    private void DropNative(DecodedBlock block)
    {
        if (block.Native is not { } native) return;
        NativeChaining.UnlinkAll(_machine.NativeCode, native);
        _jumpCache.Remove(native);
        _nativeById.Release(native.RunningId);
        if (_chainFrom == native) _chainFrom = null;
        _machine.NativeCode.Free(native.Chunk);
        block.Native = null;
    }

    /// <summary>Enters the translation at instruction 0 and, each time it hands an instruction back, interprets that
    /// one and re-enters after it, until the block is done or an instruction ended it. Chained code may hand back or
    /// end in another block than the one entered: the context names it.</summary>
    private void RunNative(NativeBlock native)
    {
        X86Cpu cpu = _cpu;
        cpu.BlockEnded = false;
        ref NativeContext context = ref _nativeContext[0];
        if (context.ReadTlb == null)
        {
            context.ReadTlb = (TlbEntry*)Unsafe.AsPointer(ref _mmu.Read.E[0]);
            context.WriteTlb = (TlbEntry*)Unsafe.AsPointer(ref _mmu.Write.E[0]);
        }
        // The bank of this privilege level: a hand-back that changes it (a CS load) ends the run.
        context.JumpCache = _jumpCache.Base(cpu.UserAccess);
        // One budget for the whole run, not one per re-entry: a loop whose every pass hands an instruction back
        // would otherwise never come back to the run loop, and never see an interrupt.
        context.LoopBudget = NativeTranslator.LoopBudget;
        context.TscBias = cpu.Msrs.TscBias;
        context.TscAux = cpu.Msrs.TscAux;
        int index = 0;
        fixed (CpuState* state = &cpu.State)
        {
            NativeContext* contextPointer = (NativeContext*)Unsafe.AsPointer(ref context);
            while (true)
            {
                DecodedBlock block = native.Owner;
                int entry = native.EntryOffsets[index];
                if (entry < 0)
                {
                    InterpretFrom(block, index);
                    return;
                }
                cpu.MaterializeFlags();
                context.UserBit = state->Cpl == 3 ? 1UL : 0;
                context.SseBlocked = SseGateClosed ? 1 : 0;
                context.ExitSlot = -1;
                context.RunningBlock = native.RunningId;
                UnlinkCrossPageTargetsIfRemapped();
                var code = (delegate* unmanaged[SuppressGCTransition]<CpuState*, NativeContext*, int>)(native.Code + entry);
                NativeEntries++;
                int handedBack = code(state, contextPointer);
                if (context.EndRun != 0) { context.EndRun = 0; cpu.BlockEnded = true; }
                if (context.RunningBlock != native.RunningId)
                {
                    NativeChainedReturns++;
                    native = _nativeById[context.RunningBlock];
                    block = native.Owner;
                    _lastBlock = block;
                }
                if (handedBack < 0)
                {
                    if (context.ExitSlot >= 0) { _chainFrom = native; _chainSlot = context.ExitSlot; }
                    // BlockEnded here: a translated STI ended the run (NativeContext.EndRun), not a jump-cache miss.
                    if (EmuProfiler.Enabled) { if (cpu.BlockEnded) cpu.Counters.NativeExitEnded++; else CountNativeExit(block, context.ExitSlot, context.LoopBudget); }
                    return;
                }
                StepForNative(block, handedBack);
                // An instruction that starts an interrupt shadow or single-steps wants the run loop next.
                if (cpu.BlockEnded || _exits.HasPending || cpu.InterruptShadow || (state->Rflags & Hypervisor.RflagsBits.Tf) != 0)
                {
                    if (EmuProfiler.Enabled) cpu.Counters.NativeExitEnded++;
                    return;
                }
                // It may have changed the mappings (MOV CR3, INVLPG): no jump under the old ones. (The code epoch
                // moves with flushes this vCPU does at its next lookup, and resizes: checked before the next run.)
                if (cpu.TranslationEpoch != _jumpCache.TranslationEpoch)
                    _jumpCache.Revalidate(cpu.TranslationEpoch, cpu.GlobalTranslationEpoch, _machine.Code.Epoch);
                index = handedBack + 1;
                if (index == block.Count)
                {
                    if (EmuProfiler.Enabled) cpu.Counters.NativeExitLastStep++;
                    return;
                }
            }
        }
    }

    /// <summary>Profiler: why a run of translated code ended with the block done (see <see cref="CpuCounters"/>).</summary>
    private void CountNativeExit(DecodedBlock block, int exitSlot, int loopBudget)
    {
        ref CpuCounters counters = ref _cpu.Counters;
        if (exitSlot >= 0) counters.NativeExitUnlinked++;
        else if (loopBudget <= 0) counters.NativeExitBudget++;
        else
        {
            // By the block's last instruction: a miss may also come from an earlier branch into another page.
            FlowControl last = block.LastFlowControl;
            if (last == FlowControl.Return) counters.NativeExitMissRet++;
            else if (last is FlowControl.IndirectBranch or FlowControl.IndirectCall) counters.NativeExitMissIndirect++;
            else counters.NativeExitMissOtherPage++;
            switch (_jumpCache.Classify(_cpu.Rip, _cpu.UserAccess))
            {
                case 0: counters.JumpMissEmpty++; break;
                case 1: counters.JumpMissOther++; break;
                default: counters.JumpMissStale++; break;
            }
        }
    }

    /// <summary>Profiler: why a chain slot the last run left by was not linked to the block run next.</summary>
    private void CountRefusedLink(NativeBlock from, int slot, NativeBlock to)
    {
        ref CpuCounters counters = ref _cpu.Counters;
        counters.ChainLinkRefused++;
        DecodedBlock a = from.Owner, b = to.Owner;
        if ((uint)slot < (uint)from.Outgoing.Length && from.Outgoing[slot] != null) counters.ChainRefusedAlreadyLinked++;
        else if (from.ChainTargets[slot] != b.StartRip) counters.ChainRefusedTarget++;
        else if (a.Generation != b.Generation) counters.ChainRefusedGeneration++;
        else if (a.Native != from) counters.ChainRefusedFromGone++;
        else if ((a.PhysicalAddress ^ b.PhysicalAddress) >= 0x1000) counters.ChainRefusedPhysicalPage++;
    }

    /// <summary>SSE instructions fault (#UD or #NM) under the current CR0 and CR4: see <see cref="NativeContext.SseBlocked"/>.</summary>
    private bool SseGateClosed => (_cpu.Cr0 & (Hypervisor.ControlRegisters.Cr0Em | Hypervisor.ControlRegisters.Cr0Ts)) != 0
        || (_cpu.Cr4 & Hypervisor.ControlRegisters.Cr4Osfxsr) == 0;

    /// <summary>Interprets instruction <paramref name="index"/>, which translated code left with every earlier effect stored.</summary>
    private void StepForNative(DecodedBlock block, int index)
    {
        X86Cpu cpu = _cpu;
        DecodedBlock body = _compactor.BodyOf(block, _machine.CodeCache);
        ref Instruction ins = ref body.Instructions[index];
        if (EmuProfiler.Enabled)
        {
            cpu.ProfMode = (byte)ProfileMode.CompiledStep;
            cpu.Counters.InstructionsCompiledStep++;
            cpu.StepsByCode[(int)ins.Code]++;
        }
        NativeSteps++;
        cpu.State.InstructionStart = ins.IP;
        cpu.State.Rip = ins.NextIP;
        if (!cpu.ExecuteFast(ref body.FastOps[index])) cpu.Execute(ref ins);
        cpu.State.InstructionsRetired++;
        cpu.Prof(ProfileMode.Compiled);
    }

    /// <summary>Interprets the rest of a block from <paramref name="index"/> (where translated code has no entry).</summary>
    private void InterpretFrom(DecodedBlock block, int index)
    {
        for (int i = index; i < block.Count; i++)
        {
            StepForNative(block, i);
            if (_cpu.BlockEnded || _exits.HasPending) return;
        }
    }
}
