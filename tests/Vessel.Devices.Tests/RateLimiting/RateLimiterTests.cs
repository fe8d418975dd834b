using Vessel.Devices.RateLimiting;

namespace Vessel.Devices.Tests.RateLimiting;

public sealed class RateLimiterTests
{
    private const long Ms = 1_000_000;

    [Fact]
    public void Bytes_and_ops_are_taken_together_or_not_at_all()
    {
        var limiter = new RateLimiter(new RateLimit(new BucketLimit(1000, 0, 1000), new BucketLimit(2, 0, 1000)), 0);
        Assert.True(limiter.TryConsume(400, 1, 0, out _));
        Assert.True(limiter.TryConsume(400, 1, 0, out _));
        // Bytes remain (200) but no op: refused, and the bytes stay.
        Assert.False(limiter.TryConsume(100, 1, 0, out long wait));
        Assert.Equal(500 * Ms, wait);
        Assert.True(limiter.TryConsume(200, 1, 500 * Ms, out _)); // 200 + 500 bytes there, one op
        Assert.False(limiter.TryConsume(600, 0, 500 * Ms, out wait)); // 500 bytes left: 100 more take 100 ms
        Assert.Equal(100 * Ms, wait);
    }

    [Fact]
    public void Size_zero_means_unlimited()
    {
        var limiter = new RateLimiter(new RateLimit(new BucketLimit(0, 0, 1000), new BucketLimit(10, 0, 0)), 0);
        Assert.True(limiter.IsUnlimited);
        Assert.Equal(RateLimit.None, limiter.Limit);
        for (int i = 0; i < 1000; i++)
            Assert.True(limiter.TryConsume(ulong.MaxValue, ulong.MaxValue, 0, out _));
    }

    [Fact]
    public void An_update_replaces_the_buckets_it_names_and_keeps_the_others_state()
    {
        var ops = new BucketLimit(1, 0, 1000);
        var limiter = new RateLimiter(new RateLimit(new BucketLimit(100, 0, 1000), ops), 0);
        Assert.True(limiter.TryConsume(100, 1, 0, out _));

        // A new bandwidth bucket starts full; the ops bucket is still empty.
        var updated = limiter.Updated(new RateLimit(new BucketLimit(500, 0, 1000), null), 0);
        Assert.Equal(new RateLimit(new BucketLimit(500, 0, 1000), ops), updated.Limit);
        Assert.False(updated.TryConsume(100, 1, 0, out _));
        Assert.True(updated.TryConsume(500, 0, 0, out _));

        // Size 0 turns a bucket off; the ops bucket still limits.
        var noBandwidth = updated.Updated(new RateLimit(new BucketLimit(0, 0, 0), null), 0);
        Assert.Equal(new RateLimit(null, ops), noBandwidth.Limit);
        Assert.True(noBandwidth.TryConsume(1 << 30, 0, 0, out _));
        Assert.False(noBandwidth.TryConsume(0, 1, 0, out _));
        Assert.True(noBandwidth.Updated(new RateLimit(null, new BucketLimit(0, 0, 1)), 0).IsUnlimited);
    }

    [Fact]
    public void Apply_treats_null_as_keep_and_disabled_buckets_as_none()
    {
        var limit = new RateLimit(new BucketLimit(1, 2, 3), new BucketLimit(4, 5, 6));
        Assert.Equal(limit, limit.Apply(RateLimit.None));
        Assert.Equal(new RateLimit(null, new BucketLimit(4, 5, 6)), limit.Apply(new RateLimit(new BucketLimit(0, 0, 0), null)));
        Assert.True(limit.Apply(new RateLimit(new BucketLimit(7, 0, 0), new BucketLimit(0, 9, 9))).IsUnlimited);
    }
}
