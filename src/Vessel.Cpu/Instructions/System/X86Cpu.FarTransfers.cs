using Vessel.Hypervisor;
using static Vessel.Cpu.DescriptorTables;
using static Vessel.Cpu.HiddenSegments;

namespace Vessel.Cpu;

/// <summary>Far JMP, CALL and RET: real mode, direct transfers to code segments, call gates (with the
/// stack switch to a more privileged ring) and returns to outer rings; TSSs and task gates switch tasks (TaskSwitch).</summary>
internal sealed partial class X86Cpu
{
    // ---------------------------------------------------------------- shared helpers

    /// <summary>Loads CS in real mode: the base is selector × 16, the rest of the hidden part stays.</summary>
    private void EnterRealModeCode(ushort selector, ulong offset)
    {
        Seg[CS].Selector = selector;
        Seg[CS].Base = (ulong)selector << 4;
        Rip = offset & 0xFFFF_FFFF;
        UpdateMode();
    }

    /// <summary>Whether <paramref name="cs"/> runs in 64-bit mode once loaded.</summary>
    private bool Is64BitCode(in Segment cs) => LongModeActive && cs.Long;

    /// <summary>The instruction pointer a transfer into <paramref name="cs"/> ends at: #GP(0) beyond the limit
    /// (or non-canonical for 64-bit code).</summary>
    private ulong CheckTargetOffset(in Segment cs, ulong offset)
    {
        if (Is64BitCode(cs))
        {
            if (!LinearAddress.IsCanonical(offset)) Fault(Vector.GP, 0);
            return offset;
        }
        offset &= 0xFFFF_FFFF;
        if (offset > cs.Limit) Fault(Vector.GP, 0);
        return offset;
    }

    /// <summary>Commits a new CS (its RPL becomes <paramref name="cpl"/>) and RIP, and recomputes the mode.</summary>
    private void CommitCodeSegment(Segment cs, int cpl, ulong rip)
    {
        cs.Selector = (ushort)((cs.Selector & 0xFFFC) | cpl);
        // A conforming segment runs at the caller's privilege; the hidden DPL carries the CPL that UpdateMode derives.
        if ((cs.Type & 0xC) == 0xC) cs.Dpl = (byte)cpl;
        int bitness = LongModeActive && cs.Long ? 64 : cs.DefaultBig ? 32 : 16;
        bool sameMode = bitness == Bitness && cs.Dpl == Cpl;
        Seg[CS] = cs;
        Rip = rip;
        // Block links stay valid while the decode mode and privilege stay (kernel-to-kernel interrupts, IRETs).
        if (sameMode) _endBlock = true;
        else UpdateMode();
    }

    /// <summary>Linear address of a stack slot in <paramref name="ss"/>, which may not be loaded yet.</summary>
    private ulong StackSlotLinear(in Segment ss, ulong sp, int size, bool flat64, uint error)
    {
        if (flat64)
        {
            if (!LinearAddress.IsCanonical(sp)) Fault(Vector.SS, error);
            return sp;
        }
        if (ss.Unusable) Fault(Vector.SS, error);
        ulong last = sp + (ulong)size - 1;
        if ((ss.Type & 0xC) == 0x4)
        {
            ulong upper = ss.DefaultBig ? 0xFFFF_FFFFUL : 0xFFFFUL;
            if (sp <= ss.Limit || last > upper) Fault(Vector.SS, error);
        }
        else if (last > ss.Limit)
        {
            Fault(Vector.SS, error);
        }
        return (ss.Base + sp) & 0xFFFF_FFFF;
    }

    private static ulong StackMask(in Segment ss, bool flat64) =>
        flat64 ? ulong.MaxValue : ss.DefaultBig ? 0xFFFF_FFFFUL : 0xFFFFUL;

    /// <summary>Pushes onto a stack that is not (yet) SS:RSP, for transfers that switch stacks.</summary>
    private void PushOn(in Segment ss, ref ulong sp, int size, ulong value, bool flat64, bool user, uint error)
    {
        sp = (sp - (ulong)size) & StackMask(ss, flat64);
        WriteLinear(StackSlotLinear(ss, sp, size, flat64, error), size, value, user);
    }

    /// <summary>Loads RSP after a stack switch: the width follows the new stack.</summary>
    private void CommitStackPointer(ulong sp, bool flat64)
    {
        if (flat64 || Seg[SS].DefaultBig) Gpr[4] = flat64 ? sp : (uint)sp;
        else Gpr[4] = (Gpr[4] & ~0xFFFFUL) | (sp & 0xFFFF);
    }

    /// <summary>Reads and checks a call gate (16-byte in long mode) for a far JMP/CALL.</summary>
    private SegmentDescriptor CheckCallGate(ushort selector, SegmentDescriptor gate)
    {
        uint error = SelectorError(selector, 0);
        bool legal = LongModeActive ? gate.Type == SystemType.CallGate32
            : gate.Type is SystemType.CallGate16 or SystemType.CallGate32;
        if (!legal) Fault(Vector.GP, error);
        if (gate.Dpl < Cpl || gate.Dpl < (selector & 3)) Fault(Vector.GP, error);
        if (!gate.Present) Fault(Vector.NP, error);
        return LongModeActive ? _descriptors.ReadSystem16(selector, gate, Vector.GP, 0) : gate;
    }

    private ulong GateOffset(SegmentDescriptor gate) =>
        LongModeActive ? gate.GateOffset64 : gate.Type == SystemType.CallGate16 ? gate.GateOffset32 & 0xFFFF : gate.GateOffset32;

    // ---------------------------------------------------------------- JMP

    internal void FarJump(ushort selector, ulong offset)
    {
        if (!ProtectedMode || Vm86Mode)
        {
            EnterRealModeCode(selector, offset);
            return;
        }
        SegmentDescriptor d = ReadFarTarget(selector, out ulong address);
        if (d.IsCode)
        {
            Segment cs = _segments.CheckDirectCodeTarget(selector, d, address);
            CommitCodeSegment(cs, Cpl, CheckTargetOffset(cs, offset));
            return;
        }
        if (TransferredToTask(selector, d, TaskSwitchReason.Jump)) return;
        SegmentDescriptor td = ReadCallGateTarget(selector, d, isCall: false, out SegmentDescriptor gate, out ulong targetAddress);
        _descriptors.MarkAccessed(targetAddress, td);
        Segment target = td.ToSegment(gate.GateSelector);
        CommitCodeSegment(target, Cpl, CheckTargetOffset(target, GateOffset(gate)));
    }

    // ---------------------------------------------------------------- CALL

    /// <param name="size">Operand size: the width of the CS and return address pushes.</param>
    internal void FarCall(ushort selector, ulong offset, int size)
    {
        ulong oldSp = Gpr[4];
        ushort oldCs = Seg[CS].Selector;
        ulong returnAddress = Rip;
        if (!ProtectedMode || Vm86Mode)
        {
            PushReturnFrame(oldCs, returnAddress, size, oldSp);
            EnterRealModeCode(selector, offset & SizeMask(size));
            return;
        }
        SegmentDescriptor d = ReadFarTarget(selector, out ulong address);
        if (d.IsCode)
        {
            Segment cs = _segments.CheckDirectCodeTarget(selector, d, address);
            ulong rip = CheckTargetOffset(cs, offset);
            PushReturnFrame(oldCs, returnAddress, size, oldSp);
            CommitCodeSegment(cs, Cpl, rip);
            return;
        }
        if (TransferredToTask(selector, d, TaskSwitchReason.Call)) return;
        SegmentDescriptor td = ReadCallGateTarget(selector, d, isCall: true, out SegmentDescriptor gate, out ulong targetAddress);
        Segment target = td.ToSegment(gate.GateSelector);
        ulong targetRip = CheckTargetOffset(target, GateOffset(gate));
        int gateSize = LongModeActive ? 8 : gate.Type == SystemType.CallGate16 ? 2 : 4;
        _descriptors.MarkAccessed(targetAddress, td);

        if (td.IsConformingCode || td.Dpl == Cpl)
        {
            PushReturnFrame(oldCs, returnAddress, gateSize, oldSp);
            CommitCodeSegment(target, Cpl, targetRip);
            return;
        }
        CallGateToInnerRing(gate, target, td.Dpl, targetRip, gateSize);
    }

    /// <summary>The descriptor a protected-mode far JMP or CALL names: #GP(0) for a null selector.</summary>
    private SegmentDescriptor ReadFarTarget(ushort selector, out ulong address)
    {
        if ((selector & 0xFFFC) == 0) Fault(Vector.GP, 0);
        return _descriptors.ReadOrFault(selector, Vector.GP, 0, out address);
    }

    /// <summary>A far JMP or CALL to a system descriptor: switches tasks if it names a TSS or task gate (true);
    /// #GP for a data segment.</summary>
    private bool TransferredToTask(ushort selector, SegmentDescriptor d, TaskSwitchReason reason)
    {
        if (d.CodeOrData) Fault(Vector.GP, SelectorError(selector, 0));
        if (LongModeActive || !TaskSwitcher.IsTaskDescriptor(d)) return false;
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
        bool privilegeRefused = (isCall || td.IsConformingCode) ? td.Dpl > Cpl : td.Dpl != Cpl;
        if (privilegeRefused) Fault(Vector.GP, targetError);
        if (!td.Present) Fault(Vector.NP, targetError);
        if (LongModeActive && (!td.Long || td.DefaultBig)) Fault(Vector.GP, targetError);
        return td;
    }

    private void PushReturnFrame(ushort cs, ulong rip, int size, ulong oldSp)
    {
        try
        {
            Push(cs, size);
            Push(rip, size);
        }
        catch (CpuFault)
        {
            Gpr[4] = oldSp;
            throw;
        }
    }

    /// <summary>CALL through a gate into a more privileged non-conforming segment: switch to the stack the TSS
    /// gives for that ring, copy the gate's parameters (legacy gates), push the caller's SS:ESP and CS:EIP.</summary>
    private void CallGateToInnerRing(SegmentDescriptor gate, Segment target, int newCpl, ulong targetRip, int gateSize)
    {
        bool flat64 = LongModeActive;
        bool user = newCpl == 3;
        Segment newSs;
        ulong newSp;
        if (flat64)
        {
            newSp = ReadTssStackPointer64(newCpl, 0);
            newSs = NullSegment((ushort)newCpl, newCpl);
        }
        else
        {
            ReadTssStack32(newCpl, 0, out ushort ssSelector, out newSp);
            newSs = _segments.CheckStackSegment(ssSelector, newCpl, Vector.TS, 0, false, out ulong ssAddress, out SegmentDescriptor ssDesc);
            _descriptors.MarkAccessed(ssAddress, ssDesc);
            newSp &= StackMask(newSs, false);
        }
        uint ssError = SelectorError(newSs.Selector, 0);
        ulong oldSs = Seg[SS].Selector, oldSp = Gpr[4] & SizeMask(StackAddressSize);
        ulong sp = newSp;
        PushOn(newSs, ref sp, gateSize, oldSs, flat64, user, ssError);
        PushOn(newSs, ref sp, gateSize, oldSp, flat64, user, ssError);
        int parameters = flat64 ? 0 : gate.GateParameterCount;
        for (int i = parameters - 1; i >= 0; i--)
        {
            ulong value = PeekStack(i * gateSize, gateSize);
            PushOn(newSs, ref sp, gateSize, value, flat64, user, ssError);
        }
        PushOn(newSs, ref sp, gateSize, Seg[CS].Selector, flat64, user, ssError);
        PushOn(newSs, ref sp, gateSize, Rip, flat64, user, ssError);
        Seg[SS] = newSs;
        CommitCodeSegment(target, newCpl, targetRip);
        CommitStackPointer(sp, flat64);
    }

    // ---------------------------------------------------------------- RET

    /// <param name="size">Operand size of the popped CS and return address.</param>
    /// <param name="release">Bytes of parameters to release (RETF imm16).</param>
    internal void FarReturn(int size, ulong release)
    {
        ulong offset = PeekStack(0, size);
        ushort selector = (ushort)PeekStack(size, size);
        ulong stackMask = SizeMask(StackAddressSize);
        if (!ProtectedMode || Vm86Mode)
        {
            SetStackPointer(Gpr[4] + (ulong)(2 * size) + release);
            EnterRealModeCode(selector, offset & SizeMask(size));
            return;
        }
        SegmentDescriptor d = _segments.ReadReturnCodeSegment(selector, out ulong address);
        int rpl = selector & 3;
        Segment cs = d.ToSegment(selector);
        ulong rip = CheckTargetOffset(cs, Is64BitCode(cs) ? offset : offset & SizeMask(size));

        if (rpl == Cpl)
        {
            ulong sp = (Gpr[4] + (ulong)(2 * size) + release) & stackMask;
            _descriptors.MarkAccessed(address, d);
            CommitCodeSegment(cs, rpl, rip);
            WriteGprSized(4, stackMask == ulong.MaxValue ? 8 : stackMask == 0xFFFF_FFFF ? 4 : 2, sp);
            return;
        }

        // Return to an outer ring: the caller's SS:RSP follows the (released) parameters.
        int frame = 2 * size + (int)release;
        ulong newSp = PeekStack(frame, size);
        ushort ssSelector = (ushort)PeekStack(frame + size, size);
        bool flat64 = Is64BitCode(cs);
        Segment newSs = _segments.CheckStackSegment(ssSelector, rpl, Vector.GP, 0, flat64, out ulong ssAddress, out SegmentDescriptor ssDesc);
        _descriptors.MarkAccessed(address, d);
        if (!newSs.Unusable) _descriptors.MarkAccessed(ssAddress, ssDesc);
        Seg[SS] = newSs;
        CommitCodeSegment(cs, rpl, rip);
        CommitStackPointer((newSp + release) & StackMask(newSs, flat64), flat64);
        _segments.NullInaccessibleDataSegments();
    }
}
