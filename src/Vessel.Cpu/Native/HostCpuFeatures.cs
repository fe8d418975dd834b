using System.Runtime.Intrinsics.X86;

namespace Vessel.Cpu.Native;

/// <summary>What the host CPU can run, read with CPUID: the instructions translated code may contain. Not the
/// intrinsics' <c>IsSupported</c>, which answer for the managed code's compilation target: a NativeAOT build targets
/// a baseline x86-64 and says false for BMI2 or SSE4.1 on hosts that have them, which left its translated code on
/// the slower flag-saving probe with floating-point SSE interpreted.</summary>
internal static class HostCpuFeatures
{
    public static readonly bool Bmi2, Sse3, Ssse3, Sse41, Sse42;

    static HostCpuFeatures()
    {
        (_, _, int ecx1, _) = X86Base.CpuId(1, 0);
        (int maxLeaf, _, _, _) = X86Base.CpuId(0, 0);
        int ebx7 = maxLeaf >= 7 ? X86Base.CpuId(7, 0).Ebx : 0;
        Sse3 = (ecx1 & (1 << 0)) != 0;
        Ssse3 = (ecx1 & (1 << 9)) != 0;
        Sse41 = (ecx1 & (1 << 19)) != 0;
        Sse42 = (ecx1 & (1 << 20)) != 0;
        Bmi2 = (ebx7 & (1 << 8)) != 0;
    }
}
