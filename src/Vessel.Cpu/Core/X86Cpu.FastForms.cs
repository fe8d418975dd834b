using System.Runtime.CompilerServices;
using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>The fast forms as the run loop and the native tier call them (<see cref="FastOpClassifier"/> makes them,
/// <see cref="FastForms"/> runs them).</summary>
internal sealed partial class X86Cpu
{
    /// <summary>The fast form of <paramref name="ins"/> (see <see cref="FastOpClassifier"/>).</summary>
    internal static FastOp Classify(ref Instruction ins, int bitness) => FastOpClassifier.Classify(ref ins, bitness);

    /// <summary>Fills the memory-operand fields of <paramref name="f"/> (see <see cref="FastOpClassifier.ClassifyMemory"/>).</summary>
    internal static bool ClassifyMemory(ref Instruction ins, ref FastOp f) => FastOpClassifier.ClassifyMemory(ref ins, ref f);

    /// <summary>Executes a classified instruction; false for <see cref="FastOpKind.Generic"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool ExecuteFast(ref FastOp f) => FastForms.Execute(this, ref f);
}
