using Iced.Intel;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>The system units this CPU holds, the calls into them, and the CPU as they see it
/// (<see cref="IDescriptorTableCpu"/>, <see cref="ISegmentCpu"/>, <see cref="ITaskSwitchCpu"/>,
/// <see cref="ISystemCpu"/>, <see cref="ISystemInstructionCpu"/>).</summary>
internal sealed partial class X86Cpu : IDescriptorTableCpu, ISegmentCpu, ISystemInstructionCpu
{
    private const ulong Dr6TaskSwitch = 1UL << 15;

    private bool ProtectedMode => State.ProtectedMode;

    /// <summary>The GDT and LDT reader every segment load, gate, interrupt and task switch goes through.</summary>
    private readonly DescriptorTables _descriptors;
    /// <summary>Segment register loads: MOV/POP/Lxx, the stacks gates and returns switch to.</summary>
    private readonly SegmentLoader _segments;
    /// <summary>Hardware task switches: JMP/CALL to a TSS or task gate, task-gate interrupts, IRET with NT.</summary>
    private readonly TaskSwitcher _tasks;
    /// <summary>Ring stacks, the IST and the I/O permission bitmap of the current TSS.</summary>
    private readonly TaskStateSegment _tss;
    /// <summary>The CS:RIP and stack steps every privilege transfer shares.</summary>
    private readonly TransferSteps _steps;
    /// <summary>Exceptions and interrupts through the IVT or IDT, NMI blocking.</summary>
    private readonly EventDelivery _events;
    /// <summary>IRET in every mode, with virtual-8086 entry and exit.</summary>
    private readonly InterruptReturn _iret;
    /// <summary>Far JMP, CALL and RET, call gates.</summary>
    private readonly FarTransfers _far;
    /// <summary>SYSCALL/SYSRET, SYSENTER/SYSEXIT.</summary>
    private readonly FastSystemCalls _fastCalls;
    /// <summary>This vCPU's own MSRs: TSC offset, SYSCALL/SYSENTER targets, PAT, MTRRs...</summary>
    internal readonly MsrFile Msrs;
    /// <summary>RDMSR/WRMSR by index: core-state aliases, the local APIC's MSRs, then <see cref="Msrs"/>.</summary>
    private readonly MsrRouter _msrRouter;
    /// <summary>Far JMP/CALL/RET, INT n, IRET, Lxx, LLDT/LTR, LAR/LSL/VERR/VERW, ARPL.</summary>
    private readonly SegmentInstructions _segmentInstructions;
    /// <summary>MOV CRn/DRn, LGDT/LIDT, RDMSR/WRMSR, CPUID, RDTSC, SWAPGS, SYSCALL...</summary>
    private readonly SystemInstructions _systemInstructions;

    /// <summary>This vCPU's local APIC, once the platform attaches one.</summary>
    internal Platform.LocalApic? LocalApic { get; set; }

    /// <summary>Executes a system-level instruction; false if <paramref name="ins"/> is not one.</summary>
    internal bool ExecuteSystem(ref Instruction ins) => _segmentInstructions.Execute(ref ins) || _systemInstructions.Execute(ref ins);

    /// <summary>Reads an MSR; false if this CPU model has no such MSR.</summary>
    internal bool TryReadMsr(uint index, out ulong value) => _msrRouter.TryRead(index, out value);

    /// <summary>Writes an MSR; false if there is no such MSR or the value is refused (the guest gets #GP).</summary>
    internal bool TryWriteMsr(uint index, ulong value) => _msrRouter.TryWrite(index, value);

    /// <summary>The time-stamp counter as this vCPU sees it.</summary>
    public ulong ReadTsc() => Msrs.ReadTsc();

    private void ResetMsrs() => _msrRouter.Reset();

    bool IDescriptorTableCpu.LongModeActive => State.LongModeActive;
    ref CpuState ISegmentCpu.State => ref State;

    ref CpuState ITaskSwitchCpu.State => ref State;
    ulong ITaskSwitchCpu.ReadTss(uint offset, int size, uint ext) => _tss.Read(offset, size, ext);
    void ITaskSwitchCpu.FlushTlbForCr3Write() => FlushTlbForCr3Write();
    void ITaskSwitchCpu.UpdateMode() => UpdateMode();
    void ITaskSwitchCpu.ClearInterruptShadow() => InterruptShadow = false;

    bool ITaskSwitchCpu.DeliveringEvent
    {
        get => _deliveringEvent;
        set => _deliveringEvent = value;
    }

    void ITaskSwitchCpu.PushErrorCode(int size, uint errorCode, uint ext)
    {
        ulong sp = Gpr[4] & TransferSteps.StackMask(Seg[SS], false);
        _steps.PushOn(Seg[SS], ref sp, size, errorCode, false, Cpl == 3, ext);
        _steps.CommitStackPointer(sp, false);
    }

    void ITaskSwitchCpu.RaiseTaskSwitchTrap()
    {
        Dr[6] |= Dr6TaskSwitch;
        DeliverEvent(Vector.DB, InterruptSource.Exception, false, 0);
    }

    public void EndBlock() => BlockEnded = true;
    void ISystemCpu.Push(ulong value, int size) => Push(value, size);
    ulong ISystemCpu.PeekStack(int offset, int size) => PeekStack(offset, size);
    void ISystemCpu.SetStackPointer(ulong value) => SetStackPointer(value);
    void ISystemCpu.RequestExit(VcpuExit exit) => RequestExit(exit);
    void ISystemCpu.SingleStepAfterThisInstruction() => SingleStepAfterThisInstruction();

    /// <summary>IN/OUT/INS/OUTS permission: IOPL, then the TSS I/O bitmap; #GP(0) if refused.</summary>
    internal void CheckIoPermission(ushort port, int size) => _tss.CheckIoPermission(port, size, IoPrivilegeLevel);

    /// <summary>PUSHF, POPF, INT n and IRET in virtual-8086 mode: #GP(0) below IOPL 3.</summary>
    internal void CheckVm86Iopl() => _events.CheckVm86Iopl(IoPrivilegeLevel);

    ulong[] ISystemInstructionCpu.DebugRegisters => Dr;
    ref ulong ISystemInstructionCpu.ApicBase => ref ApicBase;
    Platform.LocalApic? ISystemInstructionCpu.LocalApic => LocalApic;
    ulong ISystemInstructionCpu.ReadOperand(ref Instruction ins, int n, int size) => ReadOperand(ref ins, n, size);
    ulong ISystemInstructionCpu.ReadModifyTarget(ref Instruction ins, int size) => ReadModifyTarget(ref ins, size);
    void ISystemInstructionCpu.WriteModifyTarget(ref Instruction ins, int size, ulong value) => WriteModifyTarget(ref ins, size, value);
    void ISystemInstructionCpu.DeliverEvent(int vector, InterruptSource source, bool hasErrorCode, uint errorCode) =>
        DeliverEvent(vector, source, hasErrorCode, errorCode);
}
