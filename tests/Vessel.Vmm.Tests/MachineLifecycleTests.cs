using Vessel.Vmm.Tests.Fakes;

namespace Vessel.Vmm.Tests;

public class MachineLifecycleTests
{
    private static TestMachine Spinning(int vcpus = 2) => new(vcpus, (_, _) => TestMachine.CountForever());

    private static void AssertReleased(TestMachine test)
    {
        Assert.Equal(MachineState.Stopped, test.Machine.State);
        Assert.All(test.Vm.Vcpus, v =>
        {
            Assert.True(v.Disposed);
            Assert.False(v.RunThread?.IsAlive ?? false);
        });
        Assert.True(test.Vm.Disposed);
        Assert.All(test.Vm.Memory.Slots, s => Assert.Throws<ObjectDisposedException>(() => s.Region.HostAddress));
    }

    [Fact]
    public void NewMachineIsCreated()
    {
        using var test = Spinning();
        Assert.Equal(MachineState.Created, test.Machine.State);
        Assert.Null(test.Machine.Exit);
    }

    [Fact]
    public void StartRuns()
    {
        using var test = Spinning();
        test.Machine.Start();
        Assert.Equal(MachineState.Running, test.Machine.State);
        SpinWait.SpinUntil(() => test.Counter.Writes > 100, 30_000);
        Assert.True(test.Counter.Writes > 100);
        Assert.Equal(2, test.Vm.Vcpus.Select(v => v.RunThread).Distinct().Count());
    }

    [Fact]
    public void StartIsOnlyFromCreated()
    {
        using var test = Spinning();
        test.Machine.Start();
        Assert.Throws<InvalidOperationException>(test.Machine.Start);
        test.Machine.Pause();
        Assert.Throws<InvalidOperationException>(test.Machine.Start);
        test.Machine.Stop();
        Assert.Throws<InvalidOperationException>(test.Machine.Start);
    }

    [Fact]
    public void PauseParksEveryVcpuAndResumeLetsThemRun()
    {
        using var test = Spinning(3);
        test.Machine.Start();
        SpinWait.SpinUntil(() => test.Counter.Writes > 0, 30_000);
        test.Machine.Pause();
        Assert.Equal(MachineState.Paused, test.Machine.State);
        long atPause = test.Counter.Writes;
        Thread.Sleep(100);
        Assert.Equal(atPause, test.Counter.Writes);
        test.Machine.Resume();
        Assert.Equal(MachineState.Running, test.Machine.State);
        Assert.True(SpinWait.SpinUntil(() => test.Counter.Writes > atPause + 100, 30_000));
    }

    [Fact]
    public void PauseAndResumeRepeatedly()
    {
        using var test = Spinning(2);
        test.Machine.Start();
        for (int i = 0; i < 200; i++)
        {
            test.Machine.Pause();
            test.Machine.Resume();
        }
        Assert.Equal(MachineState.Running, test.Machine.State);
    }

    [Fact]
    public void PauseWhenPausedAndResumeWhenRunningAreNoOps()
    {
        using var test = Spinning();
        test.Machine.Start();
        test.Machine.Resume();
        Assert.Equal(MachineState.Running, test.Machine.State);
        test.Machine.Pause();
        test.Machine.Pause();
        Assert.Equal(MachineState.Paused, test.Machine.State);
    }

    [Fact]
    public void PauseAndResumeNeedAStartedMachine()
    {
        using var test = Spinning();
        Assert.Throws<InvalidOperationException>(test.Machine.Pause);
        Assert.Throws<InvalidOperationException>(test.Machine.Resume);
        Assert.Throws<InvalidOperationException>(() => test.Machine.WaitForExit());
        test.Machine.Stop();
        Assert.Throws<InvalidOperationException>(test.Machine.Pause);
        Assert.Throws<InvalidOperationException>(test.Machine.Resume);
    }

    [Fact]
    public void StopFromCreatedReleasesEverything()
    {
        var test = Spinning();
        test.Machine.Stop();
        AssertReleased(test);
        Assert.Equal(MachineExitKind.Stopped, test.Machine.Exit!.Kind);
        Assert.Equal(0, test.Machine.Exit.Status);
    }

    [Fact]
    public void StopFromRunningJoinsThreadsAndReleasesEverything()
    {
        var test = Spinning(4);
        test.Machine.Start();
        SpinWait.SpinUntil(() => test.Vm.Vcpus.All(v => v.RunCount > 0), 30_000);
        test.Machine.Stop();
        AssertReleased(test);
        Assert.Equal("stopped by the VMM", test.Machine.Exit!.Reason);
    }

    [Fact]
    public void StopFromPausedJoinsThreadsAndReleasesEverything()
    {
        var test = Spinning(2);
        test.Machine.Start();
        test.Machine.Pause();
        test.Machine.Stop();
        AssertReleased(test);
    }

    [Fact]
    public void StopAndDisposeAreIdempotent()
    {
        var test = Spinning();
        test.Machine.Start();
        test.Machine.Stop();
        test.Machine.Stop();
        test.Machine.Dispose();
        test.Machine.Dispose();
        AssertReleased(test);
    }

    [Fact]
    public void WaitForExitReturnsTheExitAfterStop()
    {
        using var test = new TestMachine(Fakes.Script.Of(Vessel.Hypervisor.VcpuExit.IoOut(0xf4, 1, 2)).Select(f => f()).ToArray());
        test.Machine.Start();
        Assert.Equal(5, test.Machine.WaitForExit().Status);
        AssertReleased(test);
        Assert.Equal(5, test.Machine.WaitForExit().Status);
    }

    [Fact]
    public void RequestStopFromAnotherThreadEndsWaitForExit()
    {
        using var test = Spinning();
        test.Machine.Start();
        var stopper = new Thread(() =>
        {
            Thread.Sleep(50);
            test.Machine.RequestStop(MachineExit.Stopped("terminated by the user", 0));
        });
        stopper.Start();
        var exit = test.Machine.WaitForExit();
        stopper.Join();
        Assert.Equal("terminated by the user", exit.Reason);
        AssertReleased(test);
    }

    [Fact]
    public void StopWhilePausingFromAnotherThreadDoesNotDeadlock()
    {
        var test = Spinning(2);
        test.Machine.Start();
        var pauser = new Thread(() => { try { test.Machine.Pause(); } catch (InvalidOperationException) { } });
        pauser.Start();
        test.Machine.Stop();
        Assert.True(pauser.Join(30_000));
        AssertReleased(test);
    }
}
