using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>Instruction families beyond the integer and system sets (x87, MMX, SSE) plug in here.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>Executes an x87/MMX/SSE instruction; false if <paramref name="ins"/> is not one.</summary>
    private bool ExecuteExtended(ref Instruction ins) => false;
}
