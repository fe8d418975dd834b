using System.Runtime.Intrinsics.X86;
using Vessel.Cpu.Native;

namespace Vessel.Cpu.Tests.Native;

/// <summary>The translator's view of the host (CPUID) matches the JIT's, which compiles for the machine it runs on;
/// under NativeAOT only the CPUID view is right, which is why the translator uses it.</summary>
public class HostCpuFeaturesTests
{
    [Fact]
    public void Cpuid_features_match_what_the_jit_sees_on_this_host()
    {
        Assert.Equal(Bmi2.X64.IsSupported, HostCpuFeatures.Bmi2);
        Assert.Equal(Sse3.IsSupported, HostCpuFeatures.Sse3);
        Assert.Equal(Ssse3.IsSupported, HostCpuFeatures.Ssse3);
        Assert.Equal(Sse41.IsSupported, HostCpuFeatures.Sse41);
        Assert.Equal(Sse42.IsSupported, HostCpuFeatures.Sse42);
    }
}
