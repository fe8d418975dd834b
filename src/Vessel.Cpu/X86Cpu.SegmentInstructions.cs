using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>Segment-related system instructions: far JMP/CALL/RET, INT n/INT3/INTO, IRET, LLDT/LTR/SLDT/STR,
/// LAR/LSL/VERR/VERW/ARPL.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>Executes a segment-related system instruction; false if <paramref name="ins"/> is not one.</summary>
    private bool ExecuteSegmentSystem(ref Instruction ins) => false;

    /// <summary>IN/OUT/INS/OUTS permission: IOPL, then the TSS I/O bitmap; #GP(0) if refused.</summary>
    private void CheckIoPermission(ushort port, int size)
    {
    }
}
