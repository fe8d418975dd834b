using Vessel.Hypervisor;
using static Vessel.Hypervisor.RflagsBits;
using static Vessel.Cpu.DescriptorTables;

namespace Vessel.Cpu;

/// <summary>What started a hardware task switch: it decides the busy bits, the back link and NT (SDM vol. 3 7.3).</summary>
internal enum TaskSwitchReason
{
    Jump,
    Call,
    Iret,
    /// <summary>An interrupt or exception through a task gate.</summary>
    Interrupt,
}

/// <summary>Hardware task switching of legacy protected mode (SDM vol. 3 ch. 7): JMP/CALL far to a TSS or a task
/// gate, interrupts and exceptions through a task gate, IRET with NT=1. 32-bit and 16-bit TSSs. Checks made
/// before the commit point fault in the old task; from loading TR on, faults belong to the new task, whose
/// registers then hold the new selectors. The TSS's T bit raises #DB (DR6.BT) once the switch completes. Not
/// modelled: clearing DR7's local breakpoint enables (hardware breakpoints are not implemented).</summary>
internal sealed partial class X86Cpu
{
    /// <summary>The new task's state, read in full before anything of the old task is written.</summary>
    private struct TaskState
    {
        public uint Cr3, Eip, Eflags, Ldt;
        public uint Eax, Ecx, Edx, Ebx, Esp, Ebp, Esi, Edi;
        public ushort Es, Cs, Ss, Ds, Fs, Gs, Link;
        /// <summary>The TSS's T bit: a debug trap once the switch to this task completes (32-bit TSS only).</summary>
        public bool DebugTrap;
    }

    private const ulong Dr6TaskSwitch = 1UL << 15;

    private static bool IsTss32(byte type) => type is SystemType.Tss32Available or SystemType.Tss32Busy;
    /// <summary>What JMP/CALL far switch tasks through, outside long mode.</summary>
    private bool IsTaskTarget(SegmentDescriptor d) => !LongModeActive && !d.CodeOrData
        && (d.Type == SystemType.TaskGate || IsTss(d.Type));

    private static bool IsTss(byte type) => type is SystemType.Tss32Available or SystemType.Tss32Busy
        or SystemType.Tss16Available or SystemType.Tss16Busy;

    /// <summary>JMP or CALL far whose selector names a TSS descriptor or a task gate.</summary>
    private void FarTransferToTask(ushort selector, SegmentDescriptor d, TaskSwitchReason reason)
    {
        uint error = SelectorError(selector, 0);
        if (d.Dpl < Cpl || d.Dpl < (selector & 3)) Fault(Vector.GP, error);
        if (d.Type == SystemType.TaskGate)
        {
            if (!d.Present) Fault(Vector.NP, error);
            selector = d.GateSelector;
            d = ReadTaskDescriptor(selector, 0, out _);
        }
        else if ((selector & 4) != 0 || d.Type is SystemType.Tss16Busy or SystemType.Tss32Busy)
        {
            Fault(Vector.GP, error);
        }
        else if (!d.Present)
        {
            Fault(Vector.NP, error);
        }
        TaskSwitch(selector, reason, 0, false, 0);
    }

    /// <summary>An interrupt or exception whose IDT entry is a task gate (gate DPL and presence already checked).</summary>
    private void InterruptThroughTaskGate(SegmentDescriptor gate, InterruptSource source, bool hasErrorCode, uint errorCode)
    {
        uint ext = ExtBit(source);
        ushort selector = gate.GateSelector;
        ReadTaskDescriptor(selector, ext, out _);
        TaskSwitch(selector, TaskSwitchReason.Interrupt, ext, hasErrorCode, errorCode);
    }

    /// <summary>IRET with NT=1 in legacy protected mode: back to the task named by the current TSS's link field.</summary>
    private void ReturnToLinkedTask()
    {
        ushort link = (ushort)ReadTss(0, 2, 0);
        uint error = SelectorError(link, 0);
        if ((link & 4) != 0 || (link & 0xFFFC) == 0) Fault(Vector.TS, error);
        if (!_descriptors.TryRead(link, out SegmentDescriptor d, out _)) Fault(Vector.TS, error);
        if (d.CodeOrData || d.Type is not (SystemType.Tss16Busy or SystemType.Tss32Busy)) Fault(Vector.TS, error);
        if (!d.Present) Fault(Vector.NP, error);
        TaskSwitch(link, TaskSwitchReason.Iret, 0, false, 0);
    }

    /// <summary>The available TSS a task gate names: in the GDT, else #GP; present, else #NP (selector as error code).</summary>
    private SegmentDescriptor ReadTaskDescriptor(ushort selector, uint ext, out ulong address)
    {
        uint error = SelectorError(selector, ext);
        if ((selector & 4) != 0 || (selector & 0xFFFC) == 0) Fault(Vector.GP, error);
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.GP, ext, out address);
        if (d.CodeOrData || d.Type is not (SystemType.Tss16Available or SystemType.Tss32Available)) Fault(Vector.GP, error);
        if (!d.Present) Fault(Vector.NP, error);
        return d;
    }

    private void TaskSwitch(ushort selector, TaskSwitchReason reason, uint ext, bool hasErrorCode, uint errorCode)
    {
        uint error = SelectorError(selector, ext);
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.GP, ext, out ulong descriptorAddress);
        bool newIs32 = IsTss32(d.Type);
        if (d.Limit < (newIs32 ? 0x67u : 0x2Bu)) Fault(Vector.TS, error);
        if (Tr.Unusable || !IsTss(Tr.Type) || Tr.Limit < (IsTss32(Tr.Type) ? 0x67u : 0x2Bu))
            Fault(Vector.TS, SelectorError(Tr.Selector, ext));

        ulong newBase = d.Base;
        TaskState next = newIs32 ? ReadTaskState32(newBase) : ReadTaskState16(newBase);

        // Everything from here writes: the old task's busy bit and state.
        ulong flags = GetRflags();
        if (reason == TaskSwitchReason.Iret) flags &= ~Nt;
        if (reason is TaskSwitchReason.Jump or TaskSwitchReason.Iret) SetTssBusy(Tr.Selector, false, ext);
        if (IsTss32(Tr.Type)) SaveTaskState32(flags);
        else SaveTaskState16(flags);

        if (reason is TaskSwitchReason.Call or TaskSwitchReason.Interrupt)
        {
            WriteLinear((newBase) & 0xFFFF_FFFF, 2, Tr.Selector, false);
            next.Eflags |= (uint)Nt;
        }
        if (reason != TaskSwitchReason.Iret) _descriptors.SetBusy(descriptorAddress, d, true);

        // Commit point: TR names the new task; a fault from here on is the new task's.
        Tr = d.ToSegment(selector);
        Tr.Type |= 2;
        Cr0 |= ControlRegisters.Cr0Ts;
        bool wasDelivering = _deliveringEvent;
        _deliveringEvent = true; // a descriptor read that is not RAM cannot restart a committed switch
        try
        {
            LoadTaskState(next, newIs32, ext);
            if (hasErrorCode)
            {
                int size = newIs32 ? 4 : 2;
                ulong sp = Gpr[4] & StackMask(Seg[SS], false);
                PushOn(Seg[SS], ref sp, size, errorCode, false, Cpl == 3, ext);
                CommitStackPointer(sp, false);
            }
        }
        finally
        {
            _deliveringEvent = wasDelivering;
        }
        if (next.DebugTrap)
        {
            // A trap: the #DB handler returns to the new task's first instruction.
            Dr[6] |= Dr6TaskSwitch;
            DeliverEvent(Vector.DB, InterruptSource.Exception, false, 0);
        }
    }

    private TaskState ReadTaskState32(ulong tssBase)
    {
        uint U32(uint offset) => (uint)ReadLinear((tssBase + offset) & 0xFFFF_FFFF, 4, false);
        ushort U16(uint offset) => (ushort)ReadLinear((tssBase + offset) & 0xFFFF_FFFF, 2, false);
        return new TaskState
        {
            Link = U16(0), Cr3 = U32(0x1C), Eip = U32(0x20), Eflags = U32(0x24),
            Eax = U32(0x28), Ecx = U32(0x2C), Edx = U32(0x30), Ebx = U32(0x34),
            Esp = U32(0x38), Ebp = U32(0x3C), Esi = U32(0x40), Edi = U32(0x44),
            Es = U16(0x48), Cs = U16(0x4C), Ss = U16(0x50), Ds = U16(0x54), Fs = U16(0x58), Gs = U16(0x5C),
            Ldt = U16(0x60), DebugTrap = (U16(0x64) & 1) != 0,
        };
    }

    private TaskState ReadTaskState16(ulong tssBase)
    {
        ushort U16(uint offset) => (ushort)ReadLinear((tssBase + offset) & 0xFFFF_FFFF, 2, false);
        // A 16-bit task has no CR3, FS or GS: CR3 stays, FS and GS become null; the upper register halves stay.
        return new TaskState
        {
            Link = U16(0), Cr3 = (uint)Cr3, Eip = U16(0x0E), Eflags = U16(0x10),
            Eax = Upper(0) | U16(0x12), Ecx = Upper(1) | U16(0x14), Edx = Upper(2) | U16(0x16), Ebx = Upper(3) | U16(0x18),
            Esp = Upper(4) | U16(0x1A), Ebp = Upper(5) | U16(0x1C), Esi = Upper(6) | U16(0x1E), Edi = Upper(7) | U16(0x20),
            Es = U16(0x22), Cs = U16(0x24), Ss = U16(0x26), Ds = U16(0x28), Fs = 0, Gs = 0, Ldt = U16(0x2A),
        };
    }

    private uint Upper(int gpr) => (uint)Gpr[gpr] & 0xFFFF_0000;

    private void SaveTaskState32(ulong flags)
    {
        void U32(uint offset, ulong value) => WriteLinear((Tr.Base + offset) & 0xFFFF_FFFF, 4, value & 0xFFFF_FFFF, false);
        U32(0x20, Rip);
        U32(0x24, flags);
        for (int i = 0; i < 8; i++) U32(0x28 + 4 * (uint)i, Gpr[i]);
        for (int s = ES; s <= GS; s++) WriteLinear((Tr.Base + 0x48 + 4 * (uint)s) & 0xFFFF_FFFF, 2, Seg[s].Selector, false);
    }

    private void SaveTaskState16(ulong flags)
    {
        void U16(uint offset, ulong value) => WriteLinear((Tr.Base + offset) & 0xFFFF_FFFF, 2, value & 0xFFFF, false);
        U16(0x0E, Rip);
        U16(0x10, flags);
        for (int i = 0; i < 8; i++) U16(0x12 + 2 * (uint)i, Gpr[i]);
        for (int s = ES; s <= DS; s++) U16(0x22 + 2 * (uint)s, Seg[s].Selector);
    }

    private void SetTssBusy(ushort selector, bool busy, uint ext)
    {
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.TS, ext, out ulong address);
        _descriptors.SetBusy(address, d, busy);
    }

    /// <summary>Loads the new task's registers, then qualifies its LDT and segments in the order Intel's table 7-1
    /// lists the checks; a selector that fails leaves its register holding the selector with an unusable segment.</summary>
    private void LoadTaskState(in TaskState t, bool is32, uint ext)
    {
        if (is32 && (Cr0 & ControlRegisters.Cr0Pg) != 0 && t.Cr3 != (uint)Cr3)
        {
            Cr3 = t.Cr3;
            FlushTlbForCr3Write();
        }
        Rip = t.Eip;
        _instructionStart = Rip; // a fault from here on is delivered as at the new task's first instruction
        SetRflags(is32 ? t.Eflags : (t.Eflags & 0xFFFF) | (GetRflags() & 0xFFFF_0000 & ~(ulong)Vm));
        _interruptShadow = false;
        Gpr[0] = t.Eax; Gpr[1] = t.Ecx; Gpr[2] = t.Edx; Gpr[3] = t.Ebx;
        Gpr[4] = t.Esp; Gpr[5] = t.Ebp; Gpr[6] = t.Esi; Gpr[7] = t.Edi;
        ushort[] selectors = _taskSelectors;
        selectors[ES] = t.Es; selectors[CS] = t.Cs; selectors[SS] = t.Ss;
        selectors[DS] = t.Ds; selectors[FS] = t.Fs; selectors[GS] = t.Gs;

        bool vm86 = (_rflags & Vm) != 0;
        int cpl = vm86 ? 3 : t.Cs & 3;
        for (int s = ES; s <= GS; s++) Seg[s] = NullSegment(selectors[s], cpl);
        Ldtr = NullSegment((ushort)t.Ldt);
        UpdateMode();

        LoadTaskLdt((ushort)t.Ldt, ext);
        if (vm86)
        {
            for (int s = ES; s <= GS; s++) Seg[s] = Vm86Segment(selectors[s]);
            UpdateMode();
            return;
        }
        LoadTaskStack(t.Ss, cpl, ext);
        for (int s = ES; s <= GS; s++)
            if (s is not (CS or SS)) LoadTaskDataSegment(s, selectors[s], cpl, ext);
        LoadTaskCode(t.Cs, ext);
        if (Rip > Seg[CS].Limit) Fault(Vector.GP, 0);
    }

    private readonly ushort[] _taskSelectors = new ushort[6];

    private void LoadTaskLdt(ushort selector, uint ext)
    {
        if ((selector & 0xFFFC) == 0) return;
        uint error = SelectorError(selector, ext);
        if ((selector & 4) != 0) Fault(Vector.TS, error);
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.TS, ext, out _);
        if (d.CodeOrData || d.Type != SystemType.Ldt || !d.Present) Fault(Vector.TS, error);
        Ldtr = d.ToSegment(selector);
    }

    private void LoadTaskStack(ushort selector, int cpl, uint ext)
    {
        uint error = SelectorError(selector, ext);
        if ((selector & 0xFFFC) == 0) Fault(Vector.TS, error);
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.TS, ext, out ulong address);
        if ((selector & 3) != cpl || !d.IsWritableData || d.Dpl != cpl) Fault(Vector.TS, error);
        if (!d.Present) Fault(Vector.SS, error);
        _descriptors.MarkAccessed(address, d);
        Seg[SS] = d.ToSegment(selector);
    }

    private void LoadTaskDataSegment(int seg, ushort selector, int cpl, uint ext)
    {
        if ((selector & 0xFFFC) == 0) return; // stays a null segment
        uint error = SelectorError(selector, ext);
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.TS, ext, out ulong address);
        if (!d.IsReadable) Fault(Vector.TS, error);
        if (!d.IsConformingCode && (d.Dpl < cpl || d.Dpl < (selector & 3))) Fault(Vector.TS, error);
        if (!d.Present) Fault(Vector.NP, error);
        _descriptors.MarkAccessed(address, d);
        Seg[seg] = d.ToSegment(selector);
    }

    private void LoadTaskCode(ushort selector, uint ext)
    {
        uint error = SelectorError(selector, ext);
        if ((selector & 0xFFFC) == 0) Fault(Vector.TS, error);
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.TS, ext, out ulong address);
        int rpl = selector & 3;
        if (!d.IsCode || (d.IsConformingCode ? d.Dpl > rpl : d.Dpl != rpl)) Fault(Vector.TS, error);
        if (!d.Present) Fault(Vector.NP, error);
        _descriptors.MarkAccessed(address, d);
        Segment cs = d.ToSegment(selector);
        if (d.IsConformingCode) cs.Dpl = (byte)rpl;
        Seg[CS] = cs;
        UpdateMode();
    }
}
