using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>What the control-transfer units (<see cref="EventDelivery"/>, <see cref="InterruptReturn"/>,
/// <see cref="FarTransfers"/>, <see cref="FastSystemCalls"/>, <see cref="TransferSteps"/>,
/// <see cref="TaskStateSegment"/>) need of their CPU beyond what a task switch needs: the stack as SS:RSP, the
/// end of the decoded block, exits to the VMM and the single-step trap of SYSRET.</summary>
internal interface ISystemCpu : ITaskSwitchCpu
{
    /// <summary>The current block stops after this instruction (CS, the mode or the translations changed).</summary>
    void EndBlock();
    /// <summary>Pushes onto SS:RSP with the current stack address size.</summary>
    void Push(ulong value, int size);
    /// <summary>Reads SS:RSP+<paramref name="offset"/> without moving RSP.</summary>
    ulong PeekStack(int offset, int size);
    /// <summary>Writes RSP with the current stack address size (the upper bits of a 16-bit stack stay).</summary>
    void SetStackPointer(ulong value);
    /// <summary>Stops the vCPU with <paramref name="exit"/> once the current instruction ends.</summary>
    void RequestExit(VcpuExit exit);
    /// <summary>Traps after this instruction if TF is set once it completes (SYSRET loads TF from R11).</summary>
    void SingleStepAfterThisInstruction();
}
