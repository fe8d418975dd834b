using Vessel.Hypervisor;
using Vessel.Vmm.Tests.Fakes;

namespace Vessel.Vmm.Tests;

public class MachineRunTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static MachineExit RunToExit(TestMachine test)
    {
        test.Machine.Start();
        var exit = test.Machine.WaitForExit(Timeout);
        Assert.NotNull(exit);
        return exit;
    }

    [Fact]
    public void SerialOutputThenDebugExitEndsWithStatusThree()
    {
        using var test = new TestMachine(
            VcpuExit.IoOut(0x3f8, 1, 'h'), VcpuExit.IoOut(0x3f8, 1, 'i'), VcpuExit.IoOut(0xf4, 1, 1));
        var exit = RunToExit(test);
        Assert.Equal("hi", test.Serial.Output.ToString());
        Assert.Equal(3, exit.Status);
        Assert.Equal(MachineExitKind.GuestExit, exit.Kind);
        Assert.Equal(MachineState.Stopped, test.Machine.State);
    }

    [Fact]
    public void InReadsReachTheGuest()
    {
        using var test = new TestMachine(VcpuExit.IoIn(0x3f8, 1), VcpuExit.IoIn(0x9999, 4), VcpuExit.IoOut(0xf4, 1, 0));
        Assert.Equal(1, RunToExit(test).Status);
        Assert.Equal([0UL, 0xFFFF_FFFFUL], test.Vm.Vcpus[0].CompletedReads);
    }

    [Fact]
    public void AllVcpusHaltedEndsWithStatusZero()
    {
        using var test = new TestMachine(2, (_, _) => Script.Of(VcpuExit.Halt()));
        var exit = RunToExit(test);
        Assert.Equal(MachineExitKind.AllVcpusHalted, exit.Kind);
        Assert.Equal(0, exit.Status);
        Assert.Equal("all vCPUs halted", exit.Reason);
    }

    [Fact]
    public void OneHaltedVcpuOfTwoDoesNotEndTheVm()
    {
        using var test = new TestMachine(2, (id, _) => id == 0 ? Script.Of(VcpuExit.Halt()) : TestMachine.CountForever());
        test.Machine.Start();
        // Both threads have run (however late a loaded machine schedules them): vCPU 0 has met its HLT.
        Assert.True(SpinWait.SpinUntil(() => test.Vm.Vcpus[0].RunCount > 0 && test.Counter.Writes > 0, 30_000));
        Assert.Null(test.Machine.WaitForExit(TimeSpan.FromMilliseconds(200)));
        test.Machine.Pause(); // a halted vCPU counts as parked
        Assert.Equal(MachineState.Paused, test.Machine.State);
        test.Machine.Stop();
        Assert.Equal(MachineExitKind.Stopped, test.Machine.Exit!.Kind);
    }

    [Fact]
    public void TripleFaultEndsWithStatusZeroAndAMessage()
    {
        using var test = new TestMachine(VcpuExit.Shutdown("triple fault"));
        var exit = RunToExit(test);
        Assert.Equal(MachineExitKind.TripleFault, exit.Kind);
        Assert.Equal(0, exit.Status);
        Assert.Contains("triple fault", exit.Reason);
    }

    [Fact]
    public void InternalErrorEndsWithFailure()
    {
        using var test = new TestMachine(VcpuExit.InternalError("emulation failure"));
        var exit = RunToExit(test);
        Assert.True(exit.IsFailure);
        Assert.Equal(1, exit.Status);
        Assert.Contains("emulation failure", exit.Reason);
    }

    [Fact]
    public void ADeviceExceptionStopsTheVmWithAClearMessage()
    {
        using var test = new TestMachine(VcpuExit.IoOut(TestMachine.ThrowingPort, 1, 0));
        var exit = RunToExit(test);
        Assert.True(exit.IsFailure);
        Assert.Equal("vCPU 0 failed: InvalidOperationException: device bug", exit.Reason);
    }

    [Fact]
    public void AnExceptionInOneVcpuStopsTheOthers()
    {
        using var test = new TestMachine(3, (id, _) => id == 2
            ? Script.Of(VcpuExit.IoOut(TestMachine.ThrowingPort, 1, 0))
            : TestMachine.CountForever());
        var exit = RunToExit(test);
        Assert.Contains("vCPU 2 failed", exit.Reason);
        Assert.All(test.Vm.Vcpus, v => Assert.False(v.RunThread!.IsAlive));
    }

    [Fact]
    public void FirstExitRequestWins()
    {
        using var test = new TestMachine(VcpuExit.IoOut(0xf4, 1, 5), VcpuExit.Shutdown("later"));
        Assert.Equal(11, RunToExit(test).Status);
    }

    [Fact]
    public void SerialInputReachesTheReceiver()
    {
        using var test = new TestMachine(1, (_, _) => TestMachine.CountForever());
        test.Machine.Start();
        test.Machine.SendToSerial("ls\n"u8);
        Assert.Equal("ls\n"u8.ToArray(), test.Serial.Received);
    }

    [Fact]
    public void DeviceIrqLinesDriveTheVmInterruptLines()
    {
        var hypervisor = new FakeHypervisor();
        using var machine = new MachineBuilder(hypervisor, new MachineConfig { MemoryBytes = 2 << 20, StandardDevices = false })
            .AddDevices(context => context.IrqLine(4).Set(true))
            .Build();
        Assert.Equal([(4u, true)], hypervisor.Machines[0].IrqChanges);
    }

    [Fact]
    public void VcpuCountBeyondTheBackendIsRefused()
    {
        var hypervisor = new FakeHypervisor(maxVcpus: 2);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() =>
            new MachineBuilder(hypervisor, new MachineConfig { MemoryBytes = 2 << 20, VcpuCount = 3, StandardDevices = false }).Build());
        Assert.Contains("1 to 2 vCPUs", ex.Message);
    }

    [Fact]
    public void MemoryBelowOneMiBIsRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            new MachineBuilder(new FakeHypervisor(), new MachineConfig { MemoryBytes = 4096, StandardDevices = false }).Build());

    [Fact]
    public void AFailedBuildReleasesWhatItCreated()
    {
        var hypervisor = new FakeHypervisor { FailCreateVcpu = id => id == 1 ? new InvalidOperationException("no more vCPUs") : null };
        Assert.Throws<InvalidOperationException>(() =>
            new MachineBuilder(hypervisor, new MachineConfig { MemoryBytes = 2 << 20, VcpuCount = 2, StandardDevices = false }).Build());
        var vm = hypervisor.Machines.Single();
        Assert.True(vm.Disposed);
        Assert.True(vm.Vcpus.Single().Disposed);
        Assert.Throws<ObjectDisposedException>(() => vm.Memory.Slots[0].Region.HostAddress);
    }
}
