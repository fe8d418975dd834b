using Iced.Intel;
using Vessel.Cpu.Fpu;

namespace Vessel.Cpu;

/// <summary>F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS, FSINCOS.</summary>
internal sealed partial class X86Cpu
{
    private bool ExecuteX87Transcendental(ref Instruction ins)
    {
        return false;
    }
}
