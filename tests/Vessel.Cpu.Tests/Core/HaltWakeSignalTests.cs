using System.Diagnostics;

namespace Vessel.Cpu.Tests.Core;

/// <summary>The futex a halted vCPU sleeps on: a set signal ends the current or next wait, and a timeout
/// under a millisecond sleeps instead of returning at once (what .NET's millisecond waits did).</summary>
public class HaltWakeSignalTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    [Fact]
    public void ASignalSetBeforeTheWaitEndsItAndIsConsumed()
    {
        var signal = new HaltWakeSignal();
        signal.Set();
        var waiter = new Thread(() => signal.Wait(-1));
        waiter.Start();
        Assert.True(waiter.Join(Generous));

        // Consumed: the next wait sleeps until its timeout (200 ms) instead of returning at once.
        var clock = Stopwatch.StartNew();
        signal.Wait(200_000_000);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(150), $"returned after {clock.Elapsed.TotalMilliseconds} ms");
    }

    [Fact]
    public void ASignalFromAnotherThreadEndsAnUntimedWait()
    {
        var signal = new HaltWakeSignal();
        var started = new ManualResetEventSlim();
        var waiter = new Thread(() => { started.Set(); signal.Wait(-1); });
        waiter.Start();
        started.Wait();
        Thread.Sleep(50); // most likely in the futex by now; either way the signal must end the wait
        signal.Set();
        Assert.True(waiter.Join(Generous));
    }

    [Fact]
    public void SubMillisecondTimeoutsSleep()
    {
        var signal = new HaltWakeSignal();
        const int waits = 20;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < waits; i++) signal.Wait(500_000);
        // A signal delivered to the thread may cut one wait short; twenty cannot all return at once.
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(waits * 0.5 / 2), $"{waits} waits of 0.5 ms took {clock.Elapsed.TotalMilliseconds} ms");
    }
}
