using Vessel.Cli.Tests;
using Vessel.Kvm.LifecycleProbe;

namespace Vessel.Kvm.Tests;

[CollectionDefinition(nameof(KvmResourceMeasurements), DisableParallelization = true)]
public sealed class KvmResourceMeasurements;

/// <summary>The foundation's lifecycle/leak test on the host's /dev/kvm (KvmLifecycleCheck, which the nested-KVM
/// lane also runs inside its QEMU guest as the vessel-kvm-lifecycle binary). Runs alone: other tests would move
/// the numbers.</summary>
[Collection(nameof(KvmResourceMeasurements))]
[Trait("Category", "KvmHost")]
public sealed class KvmMachineLeakTests
{
    [KvmFact]
    public void AHundredKvmVmsLeaveFdsMappingsThreadsAndMemoryAtBaseline()
    {
        var report = KvmLifecycleCheck.Run(machines: 100);
        Assert.True(report.Passed,
            $"{string.Join("; ", report.Failures)} (baseline {report.Baseline}, after {report.After}, peak rss {report.PeakRss >> 20} MiB)");
        Assert.Equal((0, 0, 0), (report.After.KvmFds, report.After.KvmMappings, report.After.VcpuThreads));
    }
}
