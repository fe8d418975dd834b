namespace Vessel.Hypervisor.Tests;

public sealed class EventNotifierTests
{
    [Fact]
    public void SignalsCoalesceUntilTaken()
    {
        using var n = new EventNotifier();
        Assert.Equal(0UL, n.TryTake());
        n.Signal();
        n.Signal();
        n.Signal();
        Assert.Equal(3UL, n.TryTake());
        Assert.Equal(0UL, n.TryTake());
        Assert.Equal(0UL, n.Wait(TimeSpan.FromMilliseconds(20)));
    }

    [Fact]
    public async Task WaitReturnsWhenAnotherThreadSignals()
    {
        using var n = new EventNotifier();
        var signaller = Task.Run(async () =>
        {
            await Task.Delay(50);
            n.Signal();
        });
        Assert.Equal(1UL, n.Wait(TimeSpan.FromSeconds(10)));
        await signaller;
    }

    [Fact]
    public void PumpRunsTheHandlerOfASignalledNotifierUntilRemoved()
    {
        using var pump = new EventNotifierPump("test pump", ex => Assert.Fail(ex.ToString()));
        using var a = new EventNotifier();
        using var b = new EventNotifier();
        using var ran = new SemaphoreSlim(0);
        int aCalls = 0, bCalls = 0;
        var ra = pump.Add(a, () => { Interlocked.Increment(ref aCalls); ran.Release(); });
        using var rb = pump.Add(b, () => { Interlocked.Increment(ref bCalls); ran.Release(); });

        a.Signal();
        Assert.True(ran.Wait(TimeSpan.FromSeconds(10)));
        b.Signal();
        Assert.True(ran.Wait(TimeSpan.FromSeconds(10)));
        ra.Dispose();
        a.Signal();
        b.Signal();
        Assert.True(ran.Wait(TimeSpan.FromSeconds(10)));
        Assert.False(ran.Wait(TimeSpan.FromMilliseconds(100)));
        Assert.Equal((1, 2), (aCalls, bCalls));
        Assert.Equal(1UL, a.TryTake()); // the removed notifier's signal is left for its owner
    }
}
