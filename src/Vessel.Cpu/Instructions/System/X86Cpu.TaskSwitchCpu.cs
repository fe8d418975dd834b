using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>The CPU as its <see cref="TaskSwitcher"/> sees it.</summary>
internal sealed partial class X86Cpu : ITaskSwitchCpu
{
    private const ulong Dr6TaskSwitch = 1UL << 15;

    /// <summary>Hardware task switches: JMP/CALL to a TSS or task gate, task-gate interrupts, IRET with NT.</summary>
    private readonly TaskSwitcher _tasks;

    ref CpuState ITaskSwitchCpu.State => ref State;
    ulong ITaskSwitchCpu.ReadTss(uint offset, int size, uint ext) => ReadTss(offset, size, ext);
    void ITaskSwitchCpu.FlushTlbForCr3Write() => FlushTlbForCr3Write();
    void ITaskSwitchCpu.UpdateMode() => UpdateMode();
    void ITaskSwitchCpu.ClearInterruptShadow() => _interruptShadow = false;

    bool ITaskSwitchCpu.DeliveringEvent
    {
        get => _deliveringEvent;
        set => _deliveringEvent = value;
    }

    void ITaskSwitchCpu.PushErrorCode(int size, uint errorCode, uint ext)
    {
        ulong sp = Gpr[4] & StackMask(Seg[SS], false);
        PushOn(Seg[SS], ref sp, size, errorCode, false, Cpl == 3, ext);
        CommitStackPointer(sp, false);
    }

    void ITaskSwitchCpu.RaiseTaskSwitchTrap()
    {
        Dr[6] |= Dr6TaskSwitch;
        DeliverEvent(Vector.DB, InterruptSource.Exception, false, 0);
    }
}
