namespace Vessel.Cpu;

/// <summary>The CPUID feature bits of the x87/SSE/XSAVE family that the emu CPU implements. The CPUID model
/// ORs them into its leaves; a bit is set here only once its instructions pass the differential suite.</summary>
internal static class ExtendedFeatures
{
    /// <summary>CPUID.1:EDX bits (FPU=0, MMX=23, FXSR=24, SSE=25, SSE2=26).</summary>
    public const uint Leaf1Edx = 1u << 0 | 1u << 23 | 1u << 24 | 1u << 25 | 1u << 26;

    /// <summary>CPUID.1:ECX bits (SSE3=0, SSSE3=9, SSE4.1=19, SSE4.2=20, POPCNT=23 is integer, XSAVE=26;
    /// OSXSAVE=27 mirrors CR4.OSXSAVE).</summary>
    public const uint Leaf1Ecx = 1u << 0 | 1u << 9 | 1u << 19 | 1u << 20 | 1u << 26;

    /// <summary>CPUID.(0xD,1):EAX: XSAVEOPT=0, XSAVEC=1 (XGETBV with ECX=1 and XSAVES are not offered).</summary>
    public const uint Leaf0DSub1Eax = 1u << 0 | 1u << 1;

    /// <summary>XCR0 bits XSAVE supports (x87=1, SSE=2); CPUID.0xD:EAX.</summary>
    public const ulong SupportedXcr0 = 3;
}
