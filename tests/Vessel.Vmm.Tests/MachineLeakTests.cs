using Vessel.Hypervisor;
using Vessel.Vmm.Tests.Fakes;

namespace Vessel.Vmm.Tests;

[CollectionDefinition(nameof(ResourceMeasurements), DisableParallelization = true)]
public sealed class ResourceMeasurements;

/// <summary>Creating, running and destroying many VMs leaves no file descriptors, threads or guest memory behind.
/// Runs alone: other tests would move the numbers.</summary>
[Collection(nameof(ResourceMeasurements))]
public class MachineLeakTests
{
    private const ulong GuestBytes = 32UL << 20; // 200 x 32 MiB of page faults: about 25 s here
    private const int Machines = 200;

    [Fact]
    public void TwoHundredVmsLeaveFdsAndResidentMemoryAtBaseline()
    {
        long peakDuringRun = RunOneMachine(); // warm-up: JIT, thread statics, pools
        ProcessResources.CollectGarbage();
        int baselineFds = ProcessResources.OpenFileDescriptors();
        long baselineRss = ProcessResources.ResidentBytes();
        Assert.True(peakDuringRun > baselineRss + (long)GuestBytes * 3 / 4,
            $"touching guest RAM should raise RSS: peak {peakDuringRun >> 20} MiB, baseline {baselineRss >> 20} MiB");

        for (int i = 0; i < Machines; i++) RunOneMachine();

        ProcessResources.CollectGarbage();
        int fds = ProcessResources.OpenFileDescriptors();
        long rss = ProcessResources.ResidentBytes();
        Assert.InRange(fds, 0, baselineFds + 2);
        Assert.True(rss < baselineRss + (24L << 20),
            $"RSS after {Machines} VMs is {rss >> 20} MiB, baseline {baselineRss >> 20} MiB");
    }

    /// <summary>Runs a VM whose vCPU fills all of guest RAM, writes to the serial port and exits through
    /// isa-debug-exit; returns the process RSS measured while the guest RAM was touched.</summary>
    private static long RunOneMachine()
    {
        long peak = 0;
        IEnumerable<Func<VcpuExit>> Script(int id, FakeVirtualMachine vm) =>
        [
            () =>
            {
                vm.Memory.Fill(0, (int)GuestBytes, 0xAA);
                peak = ProcessResources.ResidentBytes();
                return VcpuExit.IoOut(0x3f8, 1, 'x');
            },
            () => VcpuExit.IoOut(0xf4, 1, 0),
        ];
        using var test = new TestMachine(1, Script, GuestBytes);
        test.Machine.Start();
        var exit = test.Machine.WaitForExit(TimeSpan.FromSeconds(30));
        Assert.Equal(1, exit?.Status);
        Assert.Equal("x", test.Serial.Output.ToString());
        return peak;
    }
}
