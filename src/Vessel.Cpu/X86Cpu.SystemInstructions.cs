using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>System instructions: descriptor tables, control registers, MSRs, far transfers, INT/IRET.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>Executes a system-level instruction; false if <paramref name="ins"/> is not one.</summary>
    private bool ExecuteSystem(ref Instruction ins) => false;

    /// <summary>IN/OUT/INS/OUTS permission: IOPL, then the TSS I/O bitmap; #GP(0) if refused.</summary>
    private void CheckIoPermission(ushort port, int size)
    {
    }
}
