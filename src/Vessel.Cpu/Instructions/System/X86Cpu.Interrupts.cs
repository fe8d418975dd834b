using Vessel.Hypervisor;
using static Vessel.Hypervisor.RflagsBits;
using static Vessel.Cpu.DescriptorTables;
using static Vessel.Cpu.HiddenSegments;

namespace Vessel.Cpu;

/// <summary>Where an interrupt or exception comes from; it decides the EXT bit, the gate-DPL check and
/// which return address is saved.</summary>
internal enum InterruptSource
{
    /// <summary>A fault or trap raised by the processor (EXT = 1).</summary>
    Exception,
    /// <summary>INT n (gate DPL checked, EXT = 0).</summary>
    Software,
    /// <summary>INT3 and INTO: traps that check the gate DPL like INT n.</summary>
    SoftwareException,
    /// <summary>INT1 (ICEBP): no gate-DPL check, EXT = 1.</summary>
    PrivilegedSoftware,
    External,
    Nmi,
}

/// <summary>Exception and interrupt delivery through the real-mode IVT, 32-bit gates and 64-bit gates,
/// with double-fault escalation and the triple-fault shutdown.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>An NMI handler runs: further NMIs wait for the next IRET.</summary>
    private bool _nmiBlocked;

    /// <summary>RESET/INIT: NMIs unblocked, no pending single-step trap.</summary>
    private void ResetEventDelivery()
    {
        _nmiBlocked = false;
        _singleStepForced = false;
    }

    /// <summary>Delivers a fault raised by an instruction (RIP already at the instruction).</summary>
    private void DeliverFault(CpuFault f) => DeliverEvent(f.FaultVector, InterruptSource.Exception, f.HasErrorCode, f.ErrorCode);

    /// <summary>Delivers an event; a fault raised while delivering it is delivered instead, or escalates to
    /// #DF (contributory after contributory, anything but benign after #PF), and a fault while delivering #DF
    /// shuts the vCPU down.</summary>
    internal void DeliverEvent(int vector, InterruptSource source, bool hasErrorCode, uint errorCode)
    {
        if (EmuProfiler.Enabled)
        {
            ProfMode = (byte)ProfileMode.Deliver;
            if (source == InterruptSource.External) Counters.Interrupts++; else Counters.Faults++;
            if (vector == Vector.PF) Counters.PageFaults++;
        }
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                _deliveringEvent = true;
                DeliverOnce(vector, source, hasErrorCode, errorCode);
                Prof(ProfileMode.Loop);
                return;
            }
            catch (EmulationException ex)
            {
                // Task gates and the like: stop the vCPU cleanly, also when called outside an instruction.
                RequestExit(VcpuExit.InternalError(ex.Message));
                return;
            }
            catch (CpuFault f)
            {
                // A fault while starting INT n belongs to the INT instruction itself.
                if (source is InterruptSource.Software or InterruptSource.SoftwareException or InterruptSource.PrivilegedSoftware)
                    Rip = _instructionStart;
                if (vector == Vector.DF || attempt >= 8)
                {
                    TripleFault(vector, f);
                    return;
                }
                bool firstIsException = source == InterruptSource.Exception;
                if (firstIsException && CausesDoubleFault(vector, f.FaultVector))
                {
                    vector = Vector.DF;
                    hasErrorCode = true;
                    errorCode = 0;
                }
                else
                {
                    vector = f.FaultVector;
                    hasErrorCode = f.HasErrorCode;
                    errorCode = f.ErrorCode;
                }
                source = InterruptSource.Exception;
            }
            finally
            {
                _deliveringEvent = false;
            }
        }
    }

    private static bool IsContributory(int vector) => vector is Vector.DE or Vector.TS or Vector.NP or Vector.SS or Vector.GP;

    private static bool CausesDoubleFault(int first, int second) =>
        (IsContributory(first) && IsContributory(second))
        || (first == Vector.PF && (second == Vector.PF || IsContributory(second)));

    private void TripleFault(int vector, CpuFault f)
    {
        RequestExit(VcpuExit.Shutdown(
            $"triple fault: exception {f.FaultVector} (error code 0x{f.ErrorCode:x}) while delivering vector {vector} at RIP 0x{Rip:x}"));
    }

    private void DeliverOnce(int vector, InterruptSource source, bool hasErrorCode, uint errorCode)
    {
        if (!ProtectedMode) DeliverRealMode(vector);
        else if (LongModeActive) DeliverLongMode(vector, source, hasErrorCode, errorCode);
        else DeliverProtectedMode(vector, source, hasErrorCode, errorCode);
        if (vector == Vector.NMI && source == InterruptSource.Nmi) _nmiBlocked = true;
        _endBlock = true;
    }

    private static uint ExtBit(InterruptSource source) =>
        source is InterruptSource.Software or InterruptSource.SoftwareException ? 0u : 1u;

    /// <summary>The RFLAGS image to push: fault-class exceptions save RF=1 so that the faulting instruction,
    /// restarted by IRET, does not fault again on an instruction breakpoint.</summary>
    private ulong FlagsToPush(int vector, InterruptSource source)
    {
        ulong flags = GetRflags();
        if (source == InterruptSource.Exception && IsFaultClass(vector)) flags |= Rf;
        return flags;
    }

    private static bool IsFaultClass(int vector) => vector is Vector.DE or Vector.BR or Vector.UD or Vector.NM
        or Vector.TS or Vector.NP or Vector.SS or Vector.GP or Vector.PF or Vector.MF or Vector.AC or Vector.XM or 20 or 21;

    private static bool ChecksGateDpl(InterruptSource source) =>
        source is InterruptSource.Software or InterruptSource.SoftwareException;

    private void DeliverRealMode(int vector)
    {
        ulong entry = (ulong)vector * 4;
        if (entry + 3 > Idtr.Limit) Fault(Vector.GP, 0);
        ulong ip = ReadLinear(Idtr.Base + entry, 2, false);
        ulong cs = ReadLinear(Idtr.Base + entry + 2, 2, false);
        ulong oldSp = Gpr[4];
        try
        {
            Push(GetRflags(), 2);
            Push(Seg[CS].Selector, 2);
            Push(Rip, 2);
        }
        catch (CpuFault)
        {
            Gpr[4] = oldSp;
            throw;
        }
        _rflags &= ~(If | Tf | Ac | Rf);
        Seg[CS].Selector = (ushort)cs;
        Seg[CS].Base = cs << 4;
        Rip = ip;
    }

    /// <summary>32-bit (and 16-bit) interrupt and trap gates in legacy protected mode.</summary>
    private void DeliverProtectedMode(int vector, InterruptSource source, bool hasErrorCode, uint errorCode)
    {
        uint ext = ExtBit(source);
        uint idtError = ((uint)vector << 3) | 2 | ext;
        ulong entry = (ulong)vector * 8;
        if (entry + 7 > Idtr.Limit) Fault(Vector.GP, idtError);
        var gate = new SegmentDescriptor(ReadLinear((Idtr.Base + entry) & 0xFFFF_FFFF, 8, false));
        bool taskGate = !gate.CodeOrData && gate.Type == SystemType.TaskGate;
        if (!taskGate && (gate.CodeOrData || gate.Type is not (SystemType.InterruptGate16 or SystemType.TrapGate16
                or SystemType.InterruptGate32 or SystemType.TrapGate32)))
            Fault(Vector.GP, idtError);
        if (ChecksGateDpl(source) && gate.Dpl < Cpl) Fault(Vector.GP, idtError);
        if (!gate.Present) Fault(Vector.NP, idtError);
        if (taskGate)
        {
            _tasks.ThroughTaskGate(gate, ExtBit(source), hasErrorCode, errorCode);
            return;
        }

        int size = (gate.Type & 8) != 0 ? 4 : 2;
        Segment target = _segments.CheckInterruptTarget(gate.GateSelector, ext, false, out int newCpl, out bool inner);
        ulong rip = size == 4 ? gate.GateOffset32 : gate.GateOffset32 & 0xFFFF;
        if (rip > target.Limit) Fault(Vector.GP, ext);
        if (Vm86Mode)
        {
            DeliverFromVm86(gate, target, newCpl, inner, rip, vector, source, hasErrorCode, errorCode, ext);
            return;
        }

        Segment ss;
        ulong sp;
        uint ssError = ext;
        if (inner)
        {
            ReadTssStack32(newCpl, ext, out ushort ssSelector, out sp);
            ss = _segments.CheckStackSegment(ssSelector, newCpl, Vector.TS, ext, false, out ulong ssAddress, out SegmentDescriptor ssDesc);
            _descriptors.MarkAccessed(ssAddress, ssDesc);
            ssError = SelectorError(ssSelector, ext);
        }
        else
        {
            ss = Seg[SS];
            sp = Gpr[4];
        }
        sp &= StackMask(ss, false);
        bool user = newCpl == 3;
        ulong flags = FlagsToPush(vector, source);
        PushInterruptFrame(ss, ref sp, size, inner, false, user, ssError, flags, hasErrorCode, errorCode);

        if (inner) Seg[SS] = ss;
        CommitCodeSegment(target, newCpl, rip);
        CommitStackPointer(sp, false);
        ClearFlagsForGate(gate.Type);
    }

    /// <summary>16-byte interrupt and trap gates in IA-32e mode: 64-bit handlers, RSPn or IST stacks, a
    /// 16-byte aligned frame that always holds SS:RSP.</summary>
    private void DeliverLongMode(int vector, InterruptSource source, bool hasErrorCode, uint errorCode)
    {
        uint ext = ExtBit(source);
        uint idtError = ((uint)vector << 3) | 2 | ext;
        ulong entry = (ulong)vector * 16;
        if (entry + 15 > Idtr.Limit) Fault(Vector.GP, idtError);
        var gate = new SegmentDescriptor(ReadLinear(Idtr.Base + entry, 8, false), ReadLinear(Idtr.Base + entry + 8, 8, false));
        if (gate.CodeOrData || gate.Type is not (SystemType.InterruptGate32 or SystemType.TrapGate32))
            Fault(Vector.GP, idtError);
        if (ChecksGateDpl(source) && gate.Dpl < Cpl) Fault(Vector.GP, idtError);
        if (!gate.Present) Fault(Vector.NP, idtError);

        Segment target = _segments.CheckInterruptTarget(gate.GateSelector, ext, true, out int newCpl, out bool inner);
        ulong rip = gate.GateOffset64;
        if (!LinearAddress.IsCanonical(rip)) Fault(Vector.GP, ext);

        ulong sp;
        int ist = gate.GateIst;
        if (ist != 0) sp = ReadTssInterruptStack(ist, ext);
        else if (inner) sp = ReadTssStackPointer64(newCpl, ext);
        else sp = Bitness == 64 ? Gpr[4] : Gpr[4] & SizeMask(StackAddressSize);
        sp &= ~0xFUL;

        Segment ss = inner ? NullSegment((ushort)newCpl, newCpl) : Seg[SS];
        bool user = newCpl == 3;
        ulong flags = FlagsToPush(vector, source);
        PushInterruptFrame(ss, ref sp, 8, true, true, user, ext, flags, hasErrorCode, errorCode);

        if (inner) Seg[SS] = ss;
        CommitCodeSegment(target, newCpl, rip);
        Gpr[4] = sp;
        ClearFlagsForGate(gate.Type);
    }

    /// <summary>Pushes an interrupt or exception frame on <paramref name="ss"/>: the interrupted SS:RSP when
    /// <paramref name="withStack"/> (a stack switch, and always in IA-32e mode), then FLAGS, CS, RIP and the error code.</summary>
    private void PushInterruptFrame(in Segment ss, ref ulong sp, int size, bool withStack, bool flat64, bool user,
        uint error, ulong flags, bool hasErrorCode, uint errorCode)
    {
        if (withStack)
        {
            PushOn(ss, ref sp, size, Seg[SS].Selector, flat64, user, error);
            PushOn(ss, ref sp, size, Gpr[4], flat64, user, error);
        }
        PushOn(ss, ref sp, size, flags, flat64, user, error);
        PushOn(ss, ref sp, size, Seg[CS].Selector, flat64, user, error);
        PushOn(ss, ref sp, size, Rip, flat64, user, error);
        if (hasErrorCode) PushOn(ss, ref sp, size, errorCode, flat64, user, error);
    }

    private void ClearFlagsForGate(byte gateType)
    {
        MaterializeFlags();
        _rflags &= ~(Tf | Nt | Rf | Vm);
        if ((gateType & 1) == 0) _rflags &= ~If; // interrupt gates, not trap gates
    }

    /// <summary>Delivers a pending NMI, or an external interrupt when RFLAGS.IF allows and no STI/MOV SS
    /// shadow is in effect; true when one was delivered.</summary>
    private bool DeliverPendingInterrupt()
    {
        IInterruptController? controller = InterruptController;
        if (controller == null || !controller.HasPendingEvent || _interruptShadow) return false;
        if (!_nmiBlocked && controller.TakeNmi())
        {
            DeliverEvent(Vector.NMI, InterruptSource.Nmi, false, 0);
            return true;
        }
        if ((_rflags & If) == 0) return false;
        int vector = controller.AcknowledgeInterrupt();
        if (vector < 0) return false;
        DeliverEvent(vector, InterruptSource.External, false, 0);
        return true;
    }

    private void WaitForInterrupt()
    {
        if (EmuProfiler.Enabled) { ProfMode = (byte)ProfileMode.Halt; Counters.Halts++; }
        _heat.NoteHalt(System.Diagnostics.Stopwatch.GetTimestamp());
        // Halted, the vCPU lets other vCPUs flush its code cache (CodeCacheBudget) rather than hold the budget.
        Monitor.Exit(_codeCacheOwner);
        try
        {
            _machine.Platform.WaitForWake(this);
        }
        finally
        {
            Monitor.Enter(_codeCacheOwner);
        }
        Prof(ProfileMode.Loop);
    }
}
