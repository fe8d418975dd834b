using Vessel.Hypervisor;
using static Vessel.Cpu.DescriptorTables;
using static Vessel.Cpu.HiddenSegments;
using static Vessel.Cpu.X86Cpu;

namespace Vessel.Cpu;

/// <summary>Far JMP, CALL and RET: real mode, direct transfers to code segments, call gates (with the
/// stack switch to a more privileged ring) and returns to outer rings; TSSs and task gates switch tasks
/// (<see cref="TaskSwitcher"/>).</summary>
internal sealed class FarTransfers(ISystemCpu cpu, CpuFault fault, TransferSteps steps, TaskStateSegment tss,
    DescriptorTables descriptors, SegmentLoader segments, TaskSwitcher tasks)
    : ControlTransfer(cpu, fault, steps, descriptors, segments, tasks)
{
    private readonly TaskStateSegment _tss = tss;

    /// <summary>Real mode and virtual-8086 mode: far transfers load CS as selector × 16, without descriptors.</summary>
    private bool RealModeTransfer => !S.ProtectedMode || S.Vm86Mode;

    /// <summary>Reads and checks a call gate (16-byte in long mode) for a far JMP/CALL.</summary>
    private SegmentDescriptor CheckCallGate(ushort selector, SegmentDescriptor gate)
    {
        bool longMode = S.LongModeActive;
        uint error = SelectorError(selector, 0);
        bool legal = longMode ? gate.Type == SystemType.CallGate32
            : gate.Type is SystemType.CallGate16 or SystemType.CallGate32;
        if (!legal) _fault.Raise(Vector.GP, error);
        if (gate.Dpl < S.Cpl || gate.Dpl < (selector & 3)) _fault.Raise(Vector.GP, error);
        if (!gate.Present) _fault.Raise(Vector.NP, error);
        return longMode ? _descriptors.ReadSystem16(selector, gate, Vector.GP, 0) : gate;
    }

    private ulong GateOffset(SegmentDescriptor gate) =>
        S.LongModeActive ? gate.GateOffset64 : gate.Type == SystemType.CallGate16 ? gate.GateOffset32 & 0xFFFF : gate.GateOffset32;

    // ---------------------------------------------------------------- JMP

    public void Jump(ushort selector, ulong offset)
    {
        if (RealModeTransfer)
        {
            _steps.EnterRealModeCode(selector, offset);
            return;
        }
        SegmentDescriptor d = ReadFarTarget(selector, out ulong address);
        if (d.IsCode)
        {
            Segment cs = _segments.CheckDirectCodeTarget(selector, d, address);
            _steps.CommitCodeSegment(cs, S.Cpl, _steps.CheckTargetOffset(cs, offset));
            return;
        }
        if (TransferredToTask(selector, d, TaskSwitchReason.Jump)) return;
        SegmentDescriptor td = ReadCallGateTarget(selector, d, isCall: false, out SegmentDescriptor gate, out ulong targetAddress);
        _descriptors.MarkAccessed(targetAddress, td);
        Segment target = td.ToSegment(gate.GateSelector);
        _steps.CommitCodeSegment(target, S.Cpl, _steps.CheckTargetOffset(target, GateOffset(gate)));
    }

    // ---------------------------------------------------------------- CALL

    /// <param name="size">Operand size: the width of the CS and return address pushes.</param>
    public void Call(ushort selector, ulong offset, int size)
    {
        ref CpuState s = ref S;
        ulong oldSp = s.Gpr[4];
        ushort oldCs = s.Seg[CS].Selector;
        ulong returnAddress = s.Rip;
        if (RealModeTransfer)
        {
            PushReturnFrame(oldCs, returnAddress, size, oldSp);
            _steps.EnterRealModeCode(selector, offset & SizeMask(size));
            return;
        }
        SegmentDescriptor d = ReadFarTarget(selector, out ulong address);
        if (d.IsCode)
        {
            Segment cs = _segments.CheckDirectCodeTarget(selector, d, address);
            ulong rip = _steps.CheckTargetOffset(cs, offset);
            PushReturnFrame(oldCs, returnAddress, size, oldSp);
            _steps.CommitCodeSegment(cs, s.Cpl, rip);
            return;
        }
        if (TransferredToTask(selector, d, TaskSwitchReason.Call)) return;
        SegmentDescriptor td = ReadCallGateTarget(selector, d, isCall: true, out SegmentDescriptor gate, out ulong targetAddress);
        Segment target = td.ToSegment(gate.GateSelector);
        ulong targetRip = _steps.CheckTargetOffset(target, GateOffset(gate));
        int gateSize = s.LongModeActive ? 8 : gate.Type == SystemType.CallGate16 ? 2 : 4;
        _descriptors.MarkAccessed(targetAddress, td);

        if (td.IsConformingCode || td.Dpl == s.Cpl)
        {
            PushReturnFrame(oldCs, returnAddress, gateSize, oldSp);
            _steps.CommitCodeSegment(target, s.Cpl, targetRip);
            return;
        }
        CallGateToInnerRing(gate, target, td.Dpl, targetRip, gateSize);
    }

    /// <summary>The descriptor a protected-mode far JMP or CALL names: #GP(0) for a null selector.</summary>
    private SegmentDescriptor ReadFarTarget(ushort selector, out ulong address)
    {
        if ((selector & 0xFFFC) == 0) _fault.Raise(Vector.GP, 0);
        return _descriptors.ReadOrFault(selector, Vector.GP, 0, out address);
    }

    /// <summary>A far JMP or CALL to a system descriptor: switches tasks if it names a TSS or task gate (true);
    /// #GP for a data segment.</summary>
    private bool TransferredToTask(ushort selector, SegmentDescriptor d, TaskSwitchReason reason)
    {
        if (d.CodeOrData) _fault.Raise(Vector.GP, SelectorError(selector, 0));
        if (S.LongModeActive || !TaskSwitcher.IsTaskDescriptor(d)) return false;
        _tasks.FarTransfer(selector, d, reason);
        return true;
    }

    /// <summary>The code segment a far JMP or CALL reaches through the call gate <paramref name="d"/>: JMP keeps the
    /// CPL (a non-conforming target must be at it), CALL may go to a more privileged ring; present; 64-bit code
    /// in long mode.</summary>
    private SegmentDescriptor ReadCallGateTarget(ushort selector, SegmentDescriptor d, bool isCall,
        out SegmentDescriptor gate, out ulong targetAddress)
    {
        gate = CheckCallGate(selector, d);
        ushort targetSelector = gate.GateSelector;
        SegmentDescriptor td = _segments.ReadGateTarget(targetSelector, 0, out targetAddress);
        uint targetError = SelectorError(targetSelector, 0);
        int cpl = S.Cpl;
        bool privilegeRefused = (isCall || td.IsConformingCode) ? td.Dpl > cpl : td.Dpl != cpl;
        if (privilegeRefused) _fault.Raise(Vector.GP, targetError);
        if (!td.Present) _fault.Raise(Vector.NP, targetError);
        if (S.LongModeActive && (!td.Long || td.DefaultBig)) _fault.Raise(Vector.GP, targetError);
        return td;
    }

    private void PushReturnFrame(ushort cs, ulong rip, int size, ulong oldSp)
    {
        try
        {
            _cpu.Push(cs, size);
            _cpu.Push(rip, size);
        }
        catch (CpuFault)
        {
            S.Gpr[4] = oldSp;
            throw;
        }
    }

    /// <summary>CALL through a gate into a more privileged non-conforming segment: switch to the stack the TSS
    /// gives for that ring, copy the gate's parameters (legacy gates), push the caller's SS:ESP and CS:EIP.</summary>
    private void CallGateToInnerRing(SegmentDescriptor gate, Segment target, int newCpl, ulong targetRip, int gateSize)
    {
        ref CpuState s = ref S;
        bool flat64 = s.LongModeActive;
        bool user = newCpl == 3;
        Segment newSs;
        ulong newSp;
        if (flat64)
        {
            newSp = _tss.StackPointer64(newCpl, 0);
            newSs = NullSegment((ushort)newCpl, newCpl);
        }
        else
        {
            _tss.Stack32(newCpl, 0, out ushort ssSelector, out newSp);
            newSs = _segments.CheckStackSegment(ssSelector, newCpl, Vector.TS, 0, false, out ulong ssAddress, out SegmentDescriptor ssDesc);
            _descriptors.MarkAccessed(ssAddress, ssDesc);
            newSp &= TransferSteps.StackMask(newSs, false);
        }
        uint ssError = SelectorError(newSs.Selector, 0);
        ulong oldSs = s.Seg[SS].Selector, oldSp = s.Gpr[4] & SizeMask(_steps.StackAddressSize);
        ulong sp = newSp;
        _steps.PushOn(newSs, ref sp, gateSize, oldSs, flat64, user, ssError);
        _steps.PushOn(newSs, ref sp, gateSize, oldSp, flat64, user, ssError);
        int parameters = flat64 ? 0 : gate.GateParameterCount;
        for (int i = parameters - 1; i >= 0; i--)
        {
            ulong value = _cpu.PeekStack(i * gateSize, gateSize);
            _steps.PushOn(newSs, ref sp, gateSize, value, flat64, user, ssError);
        }
        _steps.PushOn(newSs, ref sp, gateSize, s.Seg[CS].Selector, flat64, user, ssError);
        _steps.PushOn(newSs, ref sp, gateSize, s.Rip, flat64, user, ssError);
        s.Seg[SS] = newSs;
        _steps.CommitCodeSegment(target, newCpl, targetRip);
        _steps.CommitStackPointer(sp, flat64);
    }

    // ---------------------------------------------------------------- RET

    /// <param name="size">Operand size of the popped CS and return address.</param>
    /// <param name="release">Bytes of parameters to release (RETF imm16).</param>
    public void Return(int size, ulong release)
    {
        ref CpuState s = ref S;
        ulong offset = _cpu.PeekStack(0, size);
        ushort selector = (ushort)_cpu.PeekStack(size, size);
        ulong stackMask = SizeMask(_steps.StackAddressSize);
        if (RealModeTransfer)
        {
            _cpu.SetStackPointer(s.Gpr[4] + (ulong)(2 * size) + release);
            _steps.EnterRealModeCode(selector, offset & SizeMask(size));
            return;
        }
        SegmentDescriptor d = _segments.ReadReturnCodeSegment(selector, out ulong address);
        int rpl = selector & 3;
        Segment cs = d.ToSegment(selector);
        ulong rip = _steps.CheckTargetOffset(cs, _steps.Is64BitCode(cs) ? offset : offset & SizeMask(size));

        if (rpl == s.Cpl)
        {
            ulong sp = (s.Gpr[4] + (ulong)(2 * size) + release) & stackMask;
            _descriptors.MarkAccessed(address, d);
            _steps.CommitCodeSegment(cs, rpl, rip);
            // RSP keeps the width of the stack the RET popped from, whatever CS it loaded.
            if (stackMask == 0xFFFF) s.Gpr[4] = (s.Gpr[4] & ~0xFFFFUL) | sp;
            else s.Gpr[4] = sp;
            return;
        }

        // Return to an outer ring: the caller's SS:RSP follows the (released) parameters.
        int frame = 2 * size + (int)release;
        ulong newSp = _cpu.PeekStack(frame, size);
        ushort ssSelector = (ushort)_cpu.PeekStack(frame + size, size);
        bool flat64 = _steps.Is64BitCode(cs);
        Segment newSs = _segments.CheckStackSegment(ssSelector, rpl, Vector.GP, 0, flat64, out ulong ssAddress, out SegmentDescriptor ssDesc);
        _descriptors.MarkAccessed(address, d);
        if (!newSs.Unusable) _descriptors.MarkAccessed(ssAddress, ssDesc);
        s.Seg[SS] = newSs;
        _steps.CommitCodeSegment(cs, rpl, rip);
        _steps.CommitStackPointer((newSp + release) & TransferSteps.StackMask(newSs, flat64), flat64);
        _segments.NullInaccessibleDataSegments();
    }
}
