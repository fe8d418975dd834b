using Vessel.Hypervisor;

namespace Vessel.Cpu.Tests.Hostile;

/// <summary>An owner that disposes the machine while its vCPU threads still run (a lost Join, a crash path) must not
/// make those threads run on in unmapped guest RAM or translated code: the machine kicks them out of Run and waits
/// for them before anything is freed.</summary>
[Trait("Category", "Hostile")]
[Collection(HostileCollection.Name)]
public class DisposeWhileRunningTests
{
    [Fact]
    public void Disposing_the_machine_under_running_vcpus_stops_them_before_their_memory_goes()
    {
        var guest = new CodeBustingGuest(2, forever: true);
        var (threads, exits) = guest.Start(() => true);
        long deadline = Environment.TickCount64 + 30_000;
        while (Array.Exists(guest.Vcpus, v => ((EmuVcpu)v).InstructionsRetired == 0) && Environment.TickCount64 < deadline)
            Thread.Sleep(10);
        Assert.All(guest.Vcpus, v => Assert.True(((EmuVcpu)v).InstructionsRetired > 0, "a vCPU never ran"));

        guest.Dispose(); // the machine first, then the RAM it ran in

        foreach (Thread t in threads) Assert.True(t.Join(TimeSpan.FromSeconds(30)), "a vCPU thread did not leave Run");
        foreach (VcpuExit exit in exits) Assert.Equal(VcpuExitReason.Interrupted, exit.Reason);
    }
}
