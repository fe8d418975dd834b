using Vessel.Virtio.Entropy;

namespace Vessel.Virtio.Tests;

public sealed class RngTests
{
    [Fact]
    public void Random_bytes_fill_each_buffer()
    {
        using var d = new FakeDriver(new VirtioRng());
        d.Activate();
        ulong a = d.Ram.Alloc(64), b = d.Ram.Alloc(4096);
        d.Queues[0].AddChain(Buf.W(a, 64));
        d.Queues[0].AddChain(Buf.W(b, 1000), Buf.W(b + 1000, 3096));
        d.Kick();
        Assert.Equal((0u, 64u), d.Queues[0].TakeUsed());
        Assert.Equal((1u, 4096u), d.Queues[0].TakeUsed());
        var first = d.Ram.Read(a, 64);
        var second = d.Ram.Read(b, 4096);
        Assert.True(first.Count(x => x == 0) < 16, "64 random bytes are not mostly zero");
        Assert.True(second.Distinct().Count() > 200, "4 KiB of random bytes take most byte values");
        Assert.NotEqual(first, second[..64]);
        Assert.True(d.Interrupt.QueueInterrupts(0) >= 1);
    }

    [Fact]
    public void The_token_bucket_limits_bytes_to_burst_plus_rate_times_time()
    {
        var time = new ManualTime();
        using var d = new FakeDriver(new VirtioRng(bytesPerSecond: 1000, burst: 1000, time));
        d.Activate();
        for (int i = 0; i < 4; i++)
            d.Queues[0].AddChain(Buf.W(d.Ram.Alloc(512), 512));
        d.Kick();
        // The burst: one full buffer and one partial, then the device waits for tokens (the clock is frozen).
        Assert.Equal((0u, 512u), d.Queues[0].TakeUsed());
        Assert.Equal((1u, 488u), d.Queues[0].TakeUsed());
        Thread.Sleep(50);
        Assert.False(d.Queues[0].TryTakeUsed(out _, out _), "no bytes while no time passes");
        time.Advance(TimeSpan.FromMilliseconds(500));
        var (id, length) = WaitUsed(d);
        Assert.Equal((2u, 500u), (id, length));
        time.Advance(TimeSpan.FromSeconds(10)); // capped at the burst
        Assert.Equal((3u, 512u), WaitUsed(d));
        Assert.Empty(d.Interrupt.Resets);
    }

    [Fact]
    public void Token_bucket_refills_continuously_up_to_its_burst()
    {
        var time = new ManualTime();
        var bucket = new TokenBucket(4096, 1024, time);
        Assert.Equal(1024, bucket.Take(5000));
        Assert.Equal(0, bucket.Take(1));
        Assert.Equal(1, bucket.MillisecondsUntilAvailable()); // one token takes 1/4096 s
        time.Advance(TimeSpan.FromMilliseconds(125));
        Assert.Equal(512, bucket.Take(5000));
        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(1024, bucket.Take(5000));
    }

    [Fact]
    public void A_request_without_a_writable_buffer_needs_a_reset()
    {
        using var d = new FakeDriver(new VirtioRng());
        d.Activate();
        d.Queues[0].AddChain(Buf.R(d.Ram.Alloc(16), 16));
        d.Kick();
        Assert.Contains("no device-writable", Assert.Single(d.Interrupt.Resets));
    }

    private static (uint, uint) WaitUsed(FakeDriver d)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (d.Queues[0].TryTakeUsed(out uint id, out uint length))
                return (id, length);
            Thread.Sleep(2);
        }
        throw new TimeoutException("the entropy device did not complete a request after tokens accrued");
    }
}
