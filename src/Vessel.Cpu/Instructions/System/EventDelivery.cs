using Vessel.Hypervisor;
using static Vessel.Hypervisor.RflagsBits;
using static Vessel.Cpu.DescriptorTables;
using static Vessel.Cpu.HiddenSegments;
using static Vessel.Cpu.X86Cpu;

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

/// <summary>Exception and interrupt delivery through the real-mode IVT, 32-bit gates (from virtual-8086 mode
/// too) and 64-bit gates, with double-fault escalation and the triple-fault shutdown; NMI blocking.</summary>
internal sealed partial class EventDelivery(ISystemCpu cpu, CpuFault fault, TransferSteps steps, TaskStateSegment tss,
    DescriptorTables descriptors, SegmentLoader segments, TaskSwitcher tasks)
    : ControlTransfer(cpu, fault, steps, descriptors, segments, tasks)
{
    private readonly TaskStateSegment _tss = tss;

    /// <summary>An NMI handler runs: further NMIs wait for the next IRET (which clears it even when it faults).</summary>
    public bool NmiBlocked { get; set; }

    /// <summary>Delivers an event; a fault raised while delivering it is delivered instead, or escalates to
    /// #DF (contributory after contributory, anything but benign after #PF), and a fault while delivering #DF
    /// shuts the vCPU down. False when the vCPU stops instead (triple fault, or an event it cannot deliver).</summary>
    public bool Deliver(int vector, InterruptSource source, bool hasErrorCode, uint errorCode)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                _cpu.DeliveringEvent = true;
                DeliverOnce(vector, source, hasErrorCode, errorCode);
                return true;
            }
            catch (EmulationException ex)
            {
                // Task gates and the like: stop the vCPU cleanly, also when called outside an instruction.
                _cpu.RequestExit(VcpuExit.InternalError(ex.Message));
                return false;
            }
            catch (CpuFault f)
            {
                // A fault while starting INT n belongs to the INT instruction itself.
                if (source is InterruptSource.Software or InterruptSource.SoftwareException or InterruptSource.PrivilegedSoftware)
                    S.Rip = S.InstructionStart;
                if (vector == Vector.DF || attempt >= 8)
                {
                    TripleFault(vector, f);
                    return false;
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
                _cpu.DeliveringEvent = false;
            }
        }
    }

    private static bool IsContributory(int vector) => vector is Vector.DE or Vector.TS or Vector.NP or Vector.SS or Vector.GP;

    private static bool CausesDoubleFault(int first, int second) =>
        (IsContributory(first) && IsContributory(second))
        || (first == Vector.PF && (second == Vector.PF || IsContributory(second)));

    private void TripleFault(int vector, CpuFault f)
    {
        _cpu.RequestExit(VcpuExit.Shutdown(
            $"triple fault: exception {f.FaultVector} (error code 0x{f.ErrorCode:x}) while delivering vector {vector} at RIP 0x{S.Rip:x}"));
    }

    private void DeliverOnce(int vector, InterruptSource source, bool hasErrorCode, uint errorCode)
    {
        if (!S.ProtectedMode) DeliverRealMode(vector);
        else if (S.LongModeActive) DeliverLongMode(vector, source, hasErrorCode, errorCode);
        else DeliverProtectedMode(vector, source, hasErrorCode, errorCode);
        if (vector == Vector.NMI && source == InterruptSource.Nmi) NmiBlocked = true;
        _cpu.EndBlock();
    }

    private static uint ExtBit(InterruptSource source) =>
        source is InterruptSource.Software or InterruptSource.SoftwareException ? 0u : 1u;

    /// <summary>The RFLAGS image to push: fault-class exceptions save RF=1 so that the faulting instruction,
    /// restarted by IRET, does not fault again on an instruction breakpoint.</summary>
    private ulong FlagsToPush(int vector, InterruptSource source)
    {
        ulong flags = _cpu.GetRflags();
        if (source == InterruptSource.Exception && IsFaultClass(vector)) flags |= Rf;
        return flags;
    }

    private static bool IsFaultClass(int vector) => vector is Vector.DE or Vector.BR or Vector.UD or Vector.NM
        or Vector.TS or Vector.NP or Vector.SS or Vector.GP or Vector.PF or Vector.MF or Vector.AC or Vector.XM or 20 or 21;

    private static bool ChecksGateDpl(InterruptSource source) =>
        source is InterruptSource.Software or InterruptSource.SoftwareException;

    private void DeliverRealMode(int vector)
    {
        ref CpuState s = ref S;
        ulong entry = (ulong)vector * 4;
        if (entry + 3 > s.Idtr.Limit) _fault.Raise(Vector.GP, 0);
        ulong ip = _cpu.ReadLinear(s.Idtr.Base + entry, 2, false);
        ulong cs = _cpu.ReadLinear(s.Idtr.Base + entry + 2, 2, false);
        ulong oldSp = s.Gpr[4];
        try
        {
            _cpu.Push(_cpu.GetRflags(), 2);
            _cpu.Push(s.Seg[CS].Selector, 2);
            _cpu.Push(s.Rip, 2);
        }
        catch (CpuFault)
        {
            s.Gpr[4] = oldSp;
            throw;
        }
        _cpu.SetRflags(_cpu.GetRflags() & ~(If | Tf | Ac | Rf));
        s.Seg[CS].Selector = (ushort)cs;
        s.Seg[CS].Base = cs << 4;
        s.Rip = ip;
    }

    /// <summary>32-bit (and 16-bit) interrupt and trap gates in legacy protected mode.</summary>
    private void DeliverProtectedMode(int vector, InterruptSource source, bool hasErrorCode, uint errorCode)
    {
        ref CpuState s = ref S;
        uint ext = ExtBit(source);
        uint idtError = ((uint)vector << 3) | 2 | ext;
        ulong entry = (ulong)vector * 8;
        if (entry + 7 > s.Idtr.Limit) _fault.Raise(Vector.GP, idtError);
        var gate = new SegmentDescriptor(_cpu.ReadLinear((s.Idtr.Base + entry) & 0xFFFF_FFFF, 8, false));
        bool taskGate = !gate.CodeOrData && gate.Type == SystemType.TaskGate;
        if (!taskGate && (gate.CodeOrData || gate.Type is not (SystemType.InterruptGate16 or SystemType.TrapGate16
                or SystemType.InterruptGate32 or SystemType.TrapGate32)))
            _fault.Raise(Vector.GP, idtError);
        if (ChecksGateDpl(source) && gate.Dpl < s.Cpl) _fault.Raise(Vector.GP, idtError);
        if (!gate.Present) _fault.Raise(Vector.NP, idtError);
        if (taskGate)
        {
            _tasks.ThroughTaskGate(gate, ExtBit(source), hasErrorCode, errorCode);
            return;
        }

        int size = (gate.Type & 8) != 0 ? 4 : 2;
        Segment target = _segments.CheckInterruptTarget(gate.GateSelector, ext, false, out int newCpl, out bool inner);
        ulong rip = size == 4 ? gate.GateOffset32 : gate.GateOffset32 & 0xFFFF;
        if (rip > target.Limit) _fault.Raise(Vector.GP, ext);
        if (s.Vm86Mode)
        {
            DeliverFromVm86(gate, target, newCpl, inner, rip, vector, source, hasErrorCode, errorCode, ext);
            return;
        }

        Segment ss;
        ulong sp;
        uint ssError = ext;
        if (inner)
        {
            _tss.Stack32(newCpl, ext, out ushort ssSelector, out sp);
            ss = _segments.CheckStackSegment(ssSelector, newCpl, Vector.TS, ext, false, out ulong ssAddress, out SegmentDescriptor ssDesc);
            _descriptors.MarkAccessed(ssAddress, ssDesc);
            ssError = SelectorError(ssSelector, ext);
        }
        else
        {
            ss = s.Seg[SS];
            sp = s.Gpr[4];
        }
        sp &= TransferSteps.StackMask(ss, false);
        bool user = newCpl == 3;
        ulong flags = FlagsToPush(vector, source);
        PushInterruptFrame(ss, ref sp, size, inner, false, user, ssError, flags, hasErrorCode, errorCode);

        if (inner) s.Seg[SS] = ss;
        _steps.CommitCodeSegment(target, newCpl, rip);
        _steps.CommitStackPointer(sp, false);
        ClearFlagsForGate(gate.Type);
    }

    /// <summary>16-byte interrupt and trap gates in IA-32e mode: 64-bit handlers, RSPn or IST stacks, a
    /// 16-byte aligned frame that always holds SS:RSP.</summary>
    private void DeliverLongMode(int vector, InterruptSource source, bool hasErrorCode, uint errorCode)
    {
        ref CpuState s = ref S;
        uint ext = ExtBit(source);
        uint idtError = ((uint)vector << 3) | 2 | ext;
        ulong entry = (ulong)vector * 16;
        if (entry + 15 > s.Idtr.Limit) _fault.Raise(Vector.GP, idtError);
        var gate = new SegmentDescriptor(_cpu.ReadLinear(s.Idtr.Base + entry, 8, false), _cpu.ReadLinear(s.Idtr.Base + entry + 8, 8, false));
        if (gate.CodeOrData || gate.Type is not (SystemType.InterruptGate32 or SystemType.TrapGate32))
            _fault.Raise(Vector.GP, idtError);
        if (ChecksGateDpl(source) && gate.Dpl < s.Cpl) _fault.Raise(Vector.GP, idtError);
        if (!gate.Present) _fault.Raise(Vector.NP, idtError);

        Segment target = _segments.CheckInterruptTarget(gate.GateSelector, ext, true, out int newCpl, out bool inner);
        ulong rip = gate.GateOffset64;
        if (!LinearAddress.IsCanonical(rip)) _fault.Raise(Vector.GP, ext);

        ulong sp;
        int ist = gate.GateIst;
        if (ist != 0) sp = _tss.InterruptStack(ist, ext);
        else if (inner) sp = _tss.StackPointer64(newCpl, ext);
        else sp = s.Bitness == 64 ? s.Gpr[4] : s.Gpr[4] & SizeMask(_steps.StackAddressSize);
        sp &= ~0xFUL;

        Segment ss = inner ? NullSegment((ushort)newCpl, newCpl) : s.Seg[SS];
        bool user = newCpl == 3;
        ulong flags = FlagsToPush(vector, source);
        PushInterruptFrame(ss, ref sp, 8, true, true, user, ext, flags, hasErrorCode, errorCode);

        if (inner) s.Seg[SS] = ss;
        _steps.CommitCodeSegment(target, newCpl, rip);
        s.Gpr[4] = sp;
        ClearFlagsForGate(gate.Type);
    }

    /// <summary>Pushes an interrupt or exception frame on <paramref name="ss"/>: the interrupted SS:RSP when
    /// <paramref name="withStack"/> (a stack switch, and always in IA-32e mode), then FLAGS, CS, RIP and the error code.</summary>
    private void PushInterruptFrame(in Segment ss, ref ulong sp, int size, bool withStack, bool flat64, bool user,
        uint error, ulong flags, bool hasErrorCode, uint errorCode)
    {
        ref CpuState s = ref S;
        if (withStack)
        {
            _steps.PushOn(ss, ref sp, size, s.Seg[SS].Selector, flat64, user, error);
            _steps.PushOn(ss, ref sp, size, s.Gpr[4], flat64, user, error);
        }
        _steps.PushOn(ss, ref sp, size, flags, flat64, user, error);
        _steps.PushOn(ss, ref sp, size, s.Seg[CS].Selector, flat64, user, error);
        _steps.PushOn(ss, ref sp, size, s.Rip, flat64, user, error);
        if (hasErrorCode) _steps.PushOn(ss, ref sp, size, errorCode, flat64, user, error);
    }

    private void ClearFlagsForGate(byte gateType)
    {
        ulong clear = Tf | Nt | Rf | Vm;
        if ((gateType & 1) == 0) clear |= If; // interrupt gates, not trap gates
        _cpu.SetRflags(_cpu.GetRflags() & ~clear);
    }
}
