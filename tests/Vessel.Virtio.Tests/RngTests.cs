using Vessel.Devices.RateLimiting;
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
    public void The_rate_limit_holds_requests_until_the_bandwidth_bucket_has_their_bytes()
    {
        var time = new ManualTime();
        var limit = new RateLimit(new BucketLimit(Size: 1000, OneTimeBurst: 0, RefillTimeMs: 1000), null);
        var rng = new VirtioRng(limit, time);
        using var d = new FakeDriver(rng);
        d.Activate();
        for (int i = 0; i < 4; i++)
            d.Queues[0].AddChain(Buf.W(d.Ram.Alloc(512), 512));
        d.Kick();
        // The full bucket pays for one buffer; the next needs 24 more bytes than are left (the clock is frozen).
        Assert.Equal((0u, 512u), d.Queues[0].TakeUsed());
        Thread.Sleep(50);
        Assert.False(d.Queues[0].TryTakeUsed(out _, out _), "no bytes while no time passes");
        time.Advance(TimeSpan.FromMilliseconds(30));
        Assert.Equal((1u, 512u), WaitUsed(d));
        time.Advance(TimeSpan.FromSeconds(10)); // capped at the size: one more buffer, not all
        Assert.Equal((2u, 512u), WaitUsed(d));
        Thread.Sleep(50);
        Assert.False(d.Queues[0].TryTakeUsed(out _, out _), "the bucket holds 1000 bytes, not 10 seconds' worth");
        Assert.Equal(limit, rng.RateLimit.Limit);
        Assert.Empty(d.Interrupt.Resets);
    }

    [Fact]
    public void Without_a_rate_limiter_the_device_keeps_its_default_cap()
    {
        using var rng = new VirtioRng();
        Assert.Equal(VirtioRng.DefaultLimit, rng.RateLimit.Limit);
        Assert.False(rng.RateLimit.Limit.IsUnlimited);
    }

    [Fact]
    public void A_buffer_larger_than_the_request_cap_gets_the_cap()
    {
        using var d = new FakeDriver(new VirtioRng(RateLimit.None));
        d.Activate();
        uint big = VirtioRng.MaxBytesPerRequest * 2;
        d.Queues[0].AddChain(Buf.W(d.Ram.Alloc((int)big), big));
        d.Kick();
        Assert.Equal((0u, (uint)VirtioRng.MaxBytesPerRequest), d.Queues[0].TakeUsed());
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
