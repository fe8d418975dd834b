using Vessel.Hypervisor;
using static Vessel.Hypervisor.RflagsBits;
using static Vessel.Cpu.DescriptorTables;
using static Vessel.Cpu.HiddenSegments;
using static Vessel.Cpu.X86Cpu;

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
internal sealed class TaskSwitcher
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

    private readonly ITaskSwitchCpu _cpu;
    private readonly DescriptorTables _descriptors;
    private readonly CpuFault _fault;
    private readonly ushort[] _selectors = new ushort[6];

    public TaskSwitcher(ITaskSwitchCpu cpu, DescriptorTables descriptors, CpuFault fault)
    {
        _cpu = cpu;
        _descriptors = descriptors;
        _fault = fault;
    }

    private ref CpuState S => ref _cpu.State;

    private static bool IsTss32(byte type) => type is SystemType.Tss32Available or SystemType.Tss32Busy;

    /// <summary>A TSS descriptor or a task gate: what JMP/CALL far switch tasks through outside long mode.</summary>
    public static bool IsTaskDescriptor(SegmentDescriptor d) => !d.CodeOrData
        && (d.Type == SystemType.TaskGate || IsTss(d.Type));

    private static bool IsTss(byte type) => type is SystemType.Tss32Available or SystemType.Tss32Busy
        or SystemType.Tss16Available or SystemType.Tss16Busy;

    /// <summary>JMP or CALL far whose selector names a TSS descriptor or a task gate.</summary>
    public void FarTransfer(ushort selector, SegmentDescriptor d, TaskSwitchReason reason)
    {
        uint error = SelectorError(selector, 0);
        if (d.Dpl < S.Cpl || d.Dpl < (selector & 3)) _fault.Raise(Vector.GP, error);
        if (d.Type == SystemType.TaskGate)
        {
            if (!d.Present) _fault.Raise(Vector.NP, error);
            selector = d.GateSelector;
            d = ReadTaskDescriptor(selector, 0);
        }
        else if ((selector & 4) != 0 || d.Type is SystemType.Tss16Busy or SystemType.Tss32Busy)
        {
            _fault.Raise(Vector.GP, error);
        }
        else if (!d.Present)
        {
            _fault.Raise(Vector.NP, error);
        }
        Switch(selector, reason, 0, false, 0);
    }

    /// <summary>An interrupt or exception whose IDT entry is a task gate (gate DPL and presence already checked).</summary>
    public void ThroughTaskGate(SegmentDescriptor gate, uint ext, bool hasErrorCode, uint errorCode)
    {
        ushort selector = gate.GateSelector;
        ReadTaskDescriptor(selector, ext);
        Switch(selector, TaskSwitchReason.Interrupt, ext, hasErrorCode, errorCode);
    }

    /// <summary>IRET with NT=1 in legacy protected mode: back to the task named by the current TSS's link field.</summary>
    public void ReturnToLinkedTask()
    {
        ushort link = (ushort)_cpu.ReadTss(0, 2, 0);
        uint error = SelectorError(link, 0);
        if ((link & 4) != 0 || (link & 0xFFFC) == 0) _fault.Raise(Vector.TS, error);
        if (!_descriptors.TryRead(link, out SegmentDescriptor d, out _)) _fault.Raise(Vector.TS, error);
        if (d.CodeOrData || d.Type is not (SystemType.Tss16Busy or SystemType.Tss32Busy)) _fault.Raise(Vector.TS, error);
        if (!d.Present) _fault.Raise(Vector.NP, error);
        Switch(link, TaskSwitchReason.Iret, 0, false, 0);
    }

    /// <summary>The available TSS a task gate names: in the GDT, else #GP; present, else #NP (selector as error code).</summary>
    private SegmentDescriptor ReadTaskDescriptor(ushort selector, uint ext)
    {
        uint error = SelectorError(selector, ext);
        if ((selector & 4) != 0 || (selector & 0xFFFC) == 0) _fault.Raise(Vector.GP, error);
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.GP, ext, out _);
        if (d.CodeOrData || d.Type is not (SystemType.Tss16Available or SystemType.Tss32Available)) _fault.Raise(Vector.GP, error);
        if (!d.Present) _fault.Raise(Vector.NP, error);
        return d;
    }

    private void Switch(ushort selector, TaskSwitchReason reason, uint ext, bool hasErrorCode, uint errorCode)
    {
        uint error = SelectorError(selector, ext);
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.GP, ext, out ulong descriptorAddress);
        bool newIs32 = IsTss32(d.Type);
        if (d.Limit < (newIs32 ? 0x67u : 0x2Bu)) _fault.Raise(Vector.TS, error);
        ref Segment tr = ref S.Tr;
        if (tr.Unusable || !IsTss(tr.Type) || tr.Limit < (IsTss32(tr.Type) ? 0x67u : 0x2Bu))
            _fault.Raise(Vector.TS, SelectorError(tr.Selector, ext));

        ulong newBase = d.Base;
        TaskState next = newIs32 ? ReadTaskState32(newBase) : ReadTaskState16(newBase);

        // Everything from here writes: the old task's busy bit and state.
        ulong flags = _cpu.GetRflags();
        if (reason == TaskSwitchReason.Iret) flags &= ~Nt;
        if (reason is TaskSwitchReason.Jump or TaskSwitchReason.Iret) SetTssBusy(tr.Selector, false, ext);
        if (IsTss32(tr.Type)) SaveTaskState32(flags);
        else SaveTaskState16(flags);

        if (reason is TaskSwitchReason.Call or TaskSwitchReason.Interrupt)
        {
            _cpu.WriteLinear(newBase & 0xFFFF_FFFF, 2, tr.Selector, false);
            next.Eflags |= (uint)Nt;
        }
        if (reason != TaskSwitchReason.Iret) _descriptors.SetBusy(descriptorAddress, d, true);

        // Commit point: TR names the new task; a fault from here on is the new task's.
        tr = d.ToSegment(selector);
        tr.Type |= 2;
        S.Cr0 |= ControlRegisters.Cr0Ts;
        LoadCommitted(next, newIs32, ext, hasErrorCode, errorCode);
        if (next.DebugTrap) _cpu.RaiseTaskSwitchTrap(); // a trap: the #DB handler returns to the new task's first instruction
    }

    /// <summary>The new task's registers and segments, and the error code an exception pushes on its stack.</summary>
    private void LoadCommitted(in TaskState next, bool newIs32, uint ext, bool hasErrorCode, uint errorCode)
    {
        bool wasDelivering = _cpu.DeliveringEvent;
        _cpu.DeliveringEvent = true; // a descriptor read that is not RAM cannot restart a committed switch
        try
        {
            LoadTaskState(next, newIs32, ext);
            if (hasErrorCode) _cpu.PushErrorCode(newIs32 ? 4 : 2, errorCode, ext);
        }
        finally
        {
            _cpu.DeliveringEvent = wasDelivering;
        }
    }

    private uint ReadTss32(ulong tssBase, uint offset) => (uint)_cpu.ReadLinear((tssBase + offset) & 0xFFFF_FFFF, 4, false);
    private ushort ReadTss16(ulong tssBase, uint offset) => (ushort)_cpu.ReadLinear((tssBase + offset) & 0xFFFF_FFFF, 2, false);

    private TaskState ReadTaskState32(ulong b) => new()
    {
        Link = ReadTss16(b, 0), Cr3 = ReadTss32(b, 0x1C), Eip = ReadTss32(b, 0x20), Eflags = ReadTss32(b, 0x24),
        Eax = ReadTss32(b, 0x28), Ecx = ReadTss32(b, 0x2C), Edx = ReadTss32(b, 0x30), Ebx = ReadTss32(b, 0x34),
        Esp = ReadTss32(b, 0x38), Ebp = ReadTss32(b, 0x3C), Esi = ReadTss32(b, 0x40), Edi = ReadTss32(b, 0x44),
        Es = ReadTss16(b, 0x48), Cs = ReadTss16(b, 0x4C), Ss = ReadTss16(b, 0x50), Ds = ReadTss16(b, 0x54),
        Fs = ReadTss16(b, 0x58), Gs = ReadTss16(b, 0x5C), Ldt = ReadTss16(b, 0x60), DebugTrap = (ReadTss16(b, 0x64) & 1) != 0,
    };

    /// <summary>A 16-bit task has no CR3, FS or GS: CR3 stays, FS and GS become null; the upper register halves stay.</summary>
    private TaskState ReadTaskState16(ulong b) => new()
    {
        Link = ReadTss16(b, 0), Cr3 = (uint)S.Cr3, Eip = ReadTss16(b, 0x0E), Eflags = ReadTss16(b, 0x10),
        Eax = Upper(0) | ReadTss16(b, 0x12), Ecx = Upper(1) | ReadTss16(b, 0x14),
        Edx = Upper(2) | ReadTss16(b, 0x16), Ebx = Upper(3) | ReadTss16(b, 0x18),
        Esp = Upper(4) | ReadTss16(b, 0x1A), Ebp = Upper(5) | ReadTss16(b, 0x1C),
        Esi = Upper(6) | ReadTss16(b, 0x1E), Edi = Upper(7) | ReadTss16(b, 0x20),
        Es = ReadTss16(b, 0x22), Cs = ReadTss16(b, 0x24), Ss = ReadTss16(b, 0x26), Ds = ReadTss16(b, 0x28),
        Fs = 0, Gs = 0, Ldt = ReadTss16(b, 0x2A),
    };

    private uint Upper(int gpr) => (uint)S.Gpr[gpr] & 0xFFFF_0000;

    /// <summary>Stores the outgoing task's EIP, EFLAGS, general registers and selectors in its TSS, in 4-byte
    /// (32-bit TSS) or 2-byte fields (16-bit TSS: no FS or GS).</summary>
    private void SaveTaskState(ulong flags, int width, uint ipOffset, int lastSegment)
    {
        ulong trBase = S.Tr.Base, mask = width == 4 ? 0xFFFF_FFFFUL : 0xFFFFUL;
        uint slot = (uint)width;
        void Store(uint offset, int size, ulong value) => _cpu.WriteLinear((trBase + offset) & 0xFFFF_FFFF, size, value & mask, false);
        Store(ipOffset, width, S.Rip);
        Store(ipOffset + slot, width, flags);
        for (int i = 0; i < 8; i++) Store(ipOffset + slot * (uint)(2 + i), width, S.Gpr[i]);
        for (int s = ES; s <= lastSegment; s++) Store(ipOffset + slot * (uint)(10 + s), 2, S.Seg[s].Selector);
    }

    private void SaveTaskState32(ulong flags) => SaveTaskState(flags, 4, 0x20, GS);

    private void SaveTaskState16(ulong flags) => SaveTaskState(flags, 2, 0x0E, DS);

    private void SetTssBusy(ushort selector, bool busy, uint ext)
    {
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.TS, ext, out ulong address);
        _descriptors.SetBusy(address, d, busy);
    }

    /// <summary>Loads the new task's registers, then qualifies its LDT and segments in the order Intel's table 7-1
    /// lists the checks; a selector that fails leaves its register holding the selector with an unusable segment.</summary>
    private void LoadTaskState(in TaskState t, bool is32, uint ext)
    {
        if (is32 && (S.Cr0 & ControlRegisters.Cr0Pg) != 0 && t.Cr3 != (uint)S.Cr3)
        {
            S.Cr3 = t.Cr3;
            _cpu.FlushTlbForCr3Write();
        }
        S.Rip = t.Eip;
        S.InstructionStart = S.Rip; // a fault from here on is delivered as at the new task's first instruction
        _cpu.SetRflags(is32 ? t.Eflags : (t.Eflags & 0xFFFF) | (_cpu.GetRflags() & 0xFFFF_0000 & ~(ulong)Vm));
        _cpu.ClearInterruptShadow();
        ref GprFile gpr = ref S.Gpr;
        gpr[0] = t.Eax; gpr[1] = t.Ecx; gpr[2] = t.Edx; gpr[3] = t.Ebx;
        gpr[4] = t.Esp; gpr[5] = t.Ebp; gpr[6] = t.Esi; gpr[7] = t.Edi;
        ushort[] selectors = _selectors;
        selectors[ES] = t.Es; selectors[CS] = t.Cs; selectors[SS] = t.Ss;
        selectors[DS] = t.Ds; selectors[FS] = t.Fs; selectors[GS] = t.Gs;

        bool vm86 = (S.Rflags & Vm) != 0;
        int cpl = vm86 ? 3 : t.Cs & 3;
        for (int s = ES; s <= GS; s++) S.Seg[s] = NullSegment(selectors[s], cpl);
        S.Ldtr = NullSegment((ushort)t.Ldt);
        _cpu.UpdateMode();

        LoadTaskLdt((ushort)t.Ldt, ext);
        if (vm86)
        {
            for (int s = ES; s <= GS; s++) S.Seg[s] = Vm86Segment(selectors[s]);
            _cpu.UpdateMode();
            return;
        }
        LoadTaskStack(t.Ss, cpl, ext);
        for (int s = ES; s <= GS; s++)
            if (s is not (CS or SS)) LoadTaskDataSegment(s, selectors[s], cpl, ext);
        LoadTaskCode(t.Cs, ext);
        if (S.Rip > S.Seg[CS].Limit) _fault.Raise(Vector.GP, 0);
    }

    private void LoadTaskLdt(ushort selector, uint ext)
    {
        if ((selector & 0xFFFC) == 0) return;
        uint error = SelectorError(selector, ext);
        if ((selector & 4) != 0) _fault.Raise(Vector.TS, error);
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.TS, ext, out _);
        if (d.CodeOrData || d.Type != SystemType.Ldt || !d.Present) _fault.Raise(Vector.TS, error);
        S.Ldtr = d.ToSegment(selector);
    }

    private void LoadTaskStack(ushort selector, int cpl, uint ext)
    {
        uint error = SelectorError(selector, ext);
        if ((selector & 0xFFFC) == 0) _fault.Raise(Vector.TS, error);
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.TS, ext, out ulong address);
        if ((selector & 3) != cpl || !d.IsWritableData || d.Dpl != cpl) _fault.Raise(Vector.TS, error);
        if (!d.Present) _fault.Raise(Vector.SS, error);
        _descriptors.MarkAccessed(address, d);
        S.Seg[SS] = d.ToSegment(selector);
    }

    private void LoadTaskDataSegment(int seg, ushort selector, int cpl, uint ext)
    {
        if ((selector & 0xFFFC) == 0) return; // stays a null segment
        uint error = SelectorError(selector, ext);
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.TS, ext, out ulong address);
        if (!d.IsReadable) _fault.Raise(Vector.TS, error);
        if (!d.IsConformingCode && (d.Dpl < cpl || d.Dpl < (selector & 3))) _fault.Raise(Vector.TS, error);
        if (!d.Present) _fault.Raise(Vector.NP, error);
        _descriptors.MarkAccessed(address, d);
        S.Seg[seg] = d.ToSegment(selector);
    }

    private void LoadTaskCode(ushort selector, uint ext)
    {
        uint error = SelectorError(selector, ext);
        if ((selector & 0xFFFC) == 0) _fault.Raise(Vector.TS, error);
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.TS, ext, out ulong address);
        int rpl = selector & 3;
        if (!d.IsCode || (d.IsConformingCode ? d.Dpl > rpl : d.Dpl != rpl)) _fault.Raise(Vector.TS, error);
        if (!d.Present) _fault.Raise(Vector.NP, error);
        _descriptors.MarkAccessed(address, d);
        Segment cs = d.ToSegment(selector);
        if (d.IsConformingCode) cs.Dpl = (byte)rpl;
        S.Seg[CS] = cs;
        _cpu.UpdateMode();
    }
}
