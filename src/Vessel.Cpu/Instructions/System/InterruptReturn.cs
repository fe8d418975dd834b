using Vessel.Hypervisor;
using static Vessel.Hypervisor.RflagsBits;
using static Vessel.Cpu.HiddenSegments;
using static Vessel.Cpu.X86Cpu;

namespace Vessel.Cpu;

/// <summary>IRET, IRETD and IRETQ: real mode, same-ring and outer-ring returns in protected mode, and the
/// IA-32e form that pops SS:RSP from every 64-bit frame; with NT=1, the return to the linked task; the entry to
/// virtual-8086 mode (IRETD at CPL 0 with VM in the popped EFLAGS) and the IRET inside it.</summary>
internal sealed class InterruptReturn(ISystemCpu cpu, CpuFault fault, TransferSteps steps, EventDelivery events,
    DescriptorTables descriptors, SegmentLoader segments, TaskSwitcher tasks)
    : ControlTransfer(cpu, fault, steps, descriptors, segments, tasks)
{
    private readonly EventDelivery _events = events;

    private int IoPrivilegeLevel => (int)((S.Rflags >> 12) & 3);

    /// <param name="size">Operand size: 2 (IRET), 4 (IRETD) or 8 (IRETQ).</param>
    public void Execute(int size)
    {
        ref CpuState s = ref S;
        // IRET ends NMI blocking even when it then faults.
        _events.NmiBlocked = false;
        _events.CheckVm86Iopl(IoPrivilegeLevel); // before the pops: below IOPL 3 it is #GP(0) whatever the stack holds
        ulong ip = _cpu.PeekStack(0, size);
        ushort selector = (ushort)_cpu.PeekStack(size, size);
        ulong flags = _cpu.PeekStack(2 * size, size);
        int oldCpl = s.Cpl;
        int oldIopl = IoPrivilegeLevel;

        if (!s.ProtectedMode)
        {
            ulong realIp = ip & SizeMask(size);
            if (realIp > s.Seg[CS].Limit) _fault.Raise(Vector.GP, 0);
            _cpu.SetStackPointer(s.Gpr[4] + (ulong)(3 * size));
            RestoreFlags(flags, size, 0, 3);
            _steps.EnterRealModeCode(selector, realIp);
            return;
        }
        if (s.Vm86Mode)
        {
            Vm86InterruptReturn(ip, selector, flags, size);
            return;
        }
        if ((s.Rflags & Nt) != 0)
        {
            if (s.LongModeActive) _fault.Raise(Vector.GP, 0);
            _tasks.ReturnToLinkedTask();
            return;
        }
        if (!s.LongModeActive && size == 4 && (flags & Vm) != 0 && s.Cpl == 0)
        {
            EnterVm86(ip, selector, flags);
            return;
        }

        SegmentDescriptor d = _segments.ReadReturnCodeSegment(selector, out ulong address);
        int rpl = selector & 3;
        Segment cs = d.ToSegment(selector);
        bool target64 = _steps.Is64BitCode(cs);
        ulong rip = _steps.CheckTargetOffset(cs, target64 ? ip : ip & SizeMask(size));

        // 64-bit mode always pops SS:RSP; elsewhere only a return to an outer ring does.
        bool popStack = s.Bitness == 64 || rpl != s.Cpl;
        if (!popStack)
        {
            ulong sp = s.Gpr[4] + (ulong)(3 * size);
            _descriptors.MarkAccessed(address, d);
            RestoreFlags(flags, size, oldCpl, oldIopl);
            _cpu.SetStackPointer(sp);
            _steps.CommitCodeSegment(cs, rpl, rip);
            return;
        }

        ulong newSp = _cpu.PeekStack(3 * size, size);
        ushort ssSelector = (ushort)_cpu.PeekStack(4 * size, size);
        Segment ss = _segments.CheckStackSegment(ssSelector, rpl, Vector.GP, 0, target64, out ulong ssAddress, out SegmentDescriptor ssDesc);
        _descriptors.MarkAccessed(address, d);
        if (!ss.Unusable) _descriptors.MarkAccessed(ssAddress, ssDesc);
        RestoreFlags(flags, size, oldCpl, oldIopl);
        s.Seg[SS] = ss;
        _steps.CommitCodeSegment(cs, rpl, rip);
        _steps.CommitStackPointer(target64 ? newSp : newSp & TransferSteps.StackMask(ss, false), target64);
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
        ulong old = _cpu.GetRflags();
        _cpu.SetRflags((old & ~changeable) | (value & changeable));
    }

    /// <summary>IRET inside virtual-8086 mode at IOPL 3 (Execute checks IOPL before popping anything): a
    /// real-mode IRET that cannot change IOPL (or VM).</summary>
    private void Vm86InterruptReturn(ulong ip, ushort selector, ulong flags, int size)
    {
        ulong realIp = ip & SizeMask(size);
        if (realIp > 0xFFFF) _fault.Raise(Vector.GP, 0);
        _cpu.SetStackPointer(S.Gpr[4] + (ulong)(3 * size));
        RestoreFlags(flags, size, 3, 3);
        _steps.EnterRealModeCode(selector, realIp);
    }

    /// <summary>IRETD at CPL 0 with VM set in the popped EFLAGS: EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS from the
    /// stack, every segment loaded as in real mode, CPL 3.</summary>
    private void EnterVm86(ulong ip, ushort selector, ulong flags)
    {
        ref CpuState s = ref S;
        ulong esp = _cpu.PeekStack(12, 4);
        Span<ushort> selectors = stackalloc ushort[6];
        selectors[SS] = (ushort)_cpu.PeekStack(16, 4);
        selectors[ES] = (ushort)_cpu.PeekStack(20, 4);
        selectors[DS] = (ushort)_cpu.PeekStack(24, 4);
        selectors[FS] = (ushort)_cpu.PeekStack(28, 4);
        selectors[GS] = (ushort)_cpu.PeekStack(32, 4);
        selectors[CS] = selector;
        if ((ip & 0xFFFF_0000) != 0) _fault.Raise(Vector.GP, 0);
        _cpu.SetRflags(flags);
        for (int seg = ES; seg <= GS; seg++) s.Seg[seg] = Vm86Segment(selectors[seg]);
        s.Gpr[4] = (uint)esp;
        s.Rip = ip;
        _cpu.UpdateMode();
    }
}
