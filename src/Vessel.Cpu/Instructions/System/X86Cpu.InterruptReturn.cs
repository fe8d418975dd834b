using Vessel.Hypervisor;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>IRET, IRETD and IRETQ: real mode, same-ring and outer-ring returns in protected mode, and the
/// IA-32e form that pops SS:RSP from every 64-bit frame; with NT=1, the return to the linked task.</summary>
internal sealed partial class X86Cpu
{
    private void InterruptReturn(int size)
    {
        // IRET ends NMI blocking even when it then faults.
        _nmiBlocked = false;
        CheckVm86Iopl(); // before the pops: below IOPL 3 it is #GP(0) whatever the stack holds
        ulong ip = PeekStack(0, size);
        ushort selector = (ushort)PeekStack(size, size);
        ulong flags = PeekStack(2 * size, size);
        int oldCpl = Cpl;
        int oldIopl = IoPrivilegeLevel;

        if (!ProtectedMode)
        {
            ulong realIp = ip & SizeMask(size);
            if (realIp > Seg[CS].Limit) Fault(Vector.GP, 0);
            SetStackPointer(Gpr[4] + (ulong)(3 * size));
            RestoreFlags(flags, size, 0, 3);
            EnterRealModeCode(selector, realIp);
            return;
        }
        if (Vm86Mode)
        {
            Vm86InterruptReturn(ip, selector, flags, size);
            return;
        }
        if ((_rflags & Nt) != 0)
        {
            if (LongModeActive) Fault(Vector.GP, 0);
            _tasks.ReturnToLinkedTask();
            return;
        }
        if (!LongModeActive && size == 4 && (flags & Vm) != 0 && Cpl == 0)
        {
            EnterVm86(ip, selector, flags);
            return;
        }

        SegmentDescriptor d = _segments.ReadReturnCodeSegment(selector, out ulong address);
        int rpl = selector & 3;
        Segment cs = d.ToSegment(selector);
        bool target64 = Is64BitCode(cs);
        ulong rip = CheckTargetOffset(cs, target64 ? ip : ip & SizeMask(size));

        // 64-bit mode always pops SS:RSP; elsewhere only a return to an outer ring does.
        bool popStack = Bitness == 64 || rpl != Cpl;
        if (!popStack)
        {
            ulong sp = Gpr[4] + (ulong)(3 * size);
            _descriptors.MarkAccessed(address, d);
            RestoreFlags(flags, size, oldCpl, oldIopl);
            SetStackPointer(sp);
            CommitCodeSegment(cs, rpl, rip);
            return;
        }

        ulong newSp = PeekStack(3 * size, size);
        ushort ssSelector = (ushort)PeekStack(4 * size, size);
        Segment ss = _segments.CheckStackSegment(ssSelector, rpl, Vector.GP, 0, target64, out ulong ssAddress, out SegmentDescriptor ssDesc);
        _descriptors.MarkAccessed(address, d);
        if (!ss.Unusable) _descriptors.MarkAccessed(ssAddress, ssDesc);
        RestoreFlags(flags, size, oldCpl, oldIopl);
        Seg[SS] = ss;
        CommitCodeSegment(cs, rpl, rip);
        CommitStackPointer(target64 ? newSp : newSp & StackMask(ss, false), target64);
        if (rpl > oldCpl) _segments.NullInaccessibleDataSegments();
    }

    /// <summary>Loads the popped flags: IOPL only at CPL 0, IF only when CPL ≤ IOPL (both of the old context).
    /// RF is not kept: it would only suppress instruction breakpoints for the next instruction, which then clears it.</summary>
    private void RestoreFlags(ulong value, int size, int cpl, int iopl)
    {
        ulong changeable = Cf | Pf | Af | Zf | Sf | Tf | Df | Of | Nt | Rf | Ac | Id;
        value &= ~Rf;
        if (cpl == 0) changeable |= Iopl | Vif | Vip;
        if (cpl <= iopl) changeable |= If;
        if (size == 2) changeable &= 0xFFFF;
        ulong old = GetRflags();
        SetRflags((old & ~changeable) | (value & changeable));
    }
}
