// The interpreter (X86Cpu) and the units (CpuUnit) both call these by their short names.
global using static Vessel.Cpu.OperandShape;

using System.Runtime.CompilerServices;
using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>The shape of a decoded operand: its size in bytes and the segment its memory form uses.</summary>
internal static class OperandShape
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int MemorySizeOf(ref Instruction ins) => ins.MemorySize.GetSize();

    /// <summary>Operand size in bytes of operand <paramref name="n"/> (register or memory).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int OperandSize(ref Instruction ins, int n) =>
        ins.GetOpKind(n) == OpKind.Register ? RegisterTable.Size[(int)ins.GetOpRegister(n)] : MemorySizeOf(ref ins);

    /// <summary>Segment number (ES=0 .. GS=5) of a segment register, -1 for any other register.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int SegmentIndex(Register seg) => RegisterTable.SegmentIndex[(int)seg];
}
