using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>CPUID: the leaves of <see cref="CpuidModel"/> for this vCPU.</summary>
internal sealed partial class X86Cpu
{
    private void ExecuteCpuid()
    {
        var (eax, ebx, ecx, edx) = CpuidModel.Query((uint)Gpr[0], (uint)Gpr[1], VcpuId,
            (Cr4 & ControlRegisters.Cr4Osxsave) != 0);
        Gpr[0] = eax;
        Gpr[3] = ebx;
        Gpr[1] = ecx;
        Gpr[2] = edx;
    }
}
