using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>Linear to guest-physical translation (the first stage of the two-stage walk).</summary>
internal sealed partial class X86Cpu
{
    /// <summary>Translates a linear address or raises #PF (CR2 and the error code set).</summary>
    internal ulong Translate(ulong linear, AccessKind kind, bool user)
    {
        if ((Cr0 & ControlRegisters.Cr0Pg) == 0) return linear & 0xFFFF_FFFF;
        throw new EmulationException("paging is not implemented yet");
    }
}
