using Microsoft.Extensions.Logging;

namespace Vessel.Cli.Tests;

/// <summary>--backend auto for every combination of what the host has.</summary>
public class AutoBackendTests
{
    [Fact]
    public void KvmThatOpensOnACpuWithVirtualizationIsUsed()
    {
        var d = AutoBackend.Decide("/dev/kvm", KvmProbe.Opens, null, cpuHasVirtualization: true);
        Assert.Equal(new AutoBackendDecision(true, LogLevel.Information, "using the kvm backend (/dev/kvm)"), d);
    }

    [Fact]
    public void KvmThatOpensOnACpuWithoutVirtualizationIsASoftwareKvmAndEmuIsUsed()
    {
        var d = AutoBackend.Decide("/dev/kvm", KvmProbe.Opens, null, cpuHasVirtualization: false);
        Assert.Equal(new AutoBackendDecision(false, LogLevel.Information,
            "/dev/kvm is present but the CPU has no VMX/SVM (kvm_pvm?); using the emu backend; --backend kvm forces it"), d);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MissingKvmMeansEmuAtInfoLevel(bool cpuHasVirtualization)
    {
        var d = AutoBackend.Decide("/dev/kvm", KvmProbe.Missing, "/dev/kvm does not exist (no KVM on this machine)", cpuHasVirtualization);
        Assert.Equal(new AutoBackendDecision(false, LogLevel.Information, "/dev/kvm does not exist; using the emu backend"), d);
    }

    [Theory]
    [InlineData(true, LogLevel.Warning)]
    [InlineData(false, LogLevel.Information)]
    public void RefusedKvmMeansEmuWithTheReason(bool cpuHasVirtualization, LogLevel level)
    {
        const string why = "/dev/kvm exists but cannot be opened: permission denied (is the user in the 'kvm' group?)";
        var d = AutoBackend.Decide("/dev/kvm", KvmProbe.Refused, why, cpuHasVirtualization);
        Assert.Equal(new AutoBackendDecision(false, level, why + "; using the emu backend"), d);
    }

    [Theory]
    [InlineData("flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr vmx smx est\n", true)]
    [InlineData("flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr syscall nx lm svm extapic\n", true)]
    [InlineData("flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep hypervisor lahf_lm\n", false)]
    [InlineData("processor\t: 0\nflags\t\t: fpu svm_lock\nvmx flags\t: vnmi preemption_timer\n", false)]
    [InlineData("processor\t: 0\nmodel name\t: svm vmx\n", false)]
    [InlineData("", false)]
    public void HardwareVirtualizationIsAVmxOrSvmFlag(string cpuInfo, bool expected) =>
        Assert.Equal(expected, HostCpu.HasHardwareVirtualization(cpuInfo));
}
