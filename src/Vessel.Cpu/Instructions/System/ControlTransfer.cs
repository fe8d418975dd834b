namespace Vessel.Cpu;

/// <summary>What the control transfers (<see cref="EventDelivery"/>, <see cref="InterruptReturn"/>,
/// <see cref="FarTransfers"/>) share: the CPU they see through <see cref="ISystemCpu"/>, the fault they raise, the
/// steps of a transfer, the descriptor tables, the segment loader and the task switcher. No virtual members: a
/// call into it is a direct call.</summary>
internal abstract class ControlTransfer(ISystemCpu cpu, CpuFault fault, TransferSteps steps, DescriptorTables descriptors,
    SegmentLoader segments, TaskSwitcher tasks)
{
    protected readonly ISystemCpu _cpu = cpu;
    protected readonly CpuFault _fault = fault;
    protected readonly TransferSteps _steps = steps;
    protected readonly DescriptorTables _descriptors = descriptors;
    protected readonly SegmentLoader _segments = segments;
    protected readonly TaskSwitcher _tasks = tasks;

    protected ref CpuState S => ref _cpu.State;
}
