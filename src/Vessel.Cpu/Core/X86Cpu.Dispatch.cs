using System.Runtime.CompilerServices;
using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>The run loop's and the native tier's way into <see cref="InstructionDispatch"/>.</summary>
internal sealed partial class X86Cpu
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Execute(ref Instruction ins) => InstructionDispatch.Execute(this, ref ins);

    /// <summary>The instruction without its LOCK prefix (<see cref="LockedAccess"/> runs a locked one through it).</summary>
    internal void ExecuteUnlocked(ref Instruction ins) => InstructionDispatch.ExecuteUnlocked(this, ref ins);
}
