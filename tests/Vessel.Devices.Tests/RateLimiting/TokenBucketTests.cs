using Vessel.Devices.RateLimiting;

namespace Vessel.Devices.Tests.RateLimiting;

/// <summary>The bucket on a clock the test holds (nanoseconds, as the devices pass them).</summary>
public sealed class TokenBucketTests
{
    private const long Ms = 1_000_000;

    [Fact]
    public void A_full_bucket_gives_its_size_then_refills_at_size_per_refill_time()
    {
        var bucket = new TokenBucket(new BucketLimit(Size: 1000, OneTimeBurst: 0, RefillTimeMs: 1000), now: 0);
        Assert.Equal(0, bucket.WaitFor(1000, 0));
        bucket.Take(1000);
        Assert.Equal(100 * Ms, bucket.WaitFor(100, 0));      // 100 tokens take 100 ms
        Assert.Equal(50 * Ms, bucket.WaitFor(100, 50 * Ms)); // half of that has passed
        Assert.Equal(0, bucket.WaitFor(100, 100 * Ms));
        bucket.Take(100);
        Assert.Equal(0, bucket.Budget(100 * Ms));
        Assert.Equal(1000, bucket.Budget(5000 * Ms));         // capped at the size however long it waits
    }

    [Fact]
    public void Fractions_of_a_token_are_carried_not_lost()
    {
        // 3 tokens per 10 ms: one every 3.33 ms. Asked every millisecond, the bucket must still give 300 in a second
        // (and a millisecond: each refill rounds the time it used up by under a nanosecond, never down).
        var bucket = new TokenBucket(new BucketLimit(3, 0, 10), 0);
        bucket.Take(3);
        long granted = 0;
        for (long t = 1; t <= 1001; t++)
        {
            if (bucket.WaitFor(1, t * Ms) == 0)
            {
                bucket.Take(1);
                granted++;
            }
        }
        Assert.Equal(300, granted);
    }

    [Fact]
    public void The_one_time_burst_is_spent_first_and_never_comes_back()
    {
        var bucket = new TokenBucket(new BucketLimit(100, OneTimeBurst: 500, RefillTimeMs: 100), 0);
        Assert.Equal(0, bucket.WaitFor(500, 0));
        bucket.Take(500);
        Assert.Equal(0UL, bucket.BurstLeft);
        Assert.Equal(100, bucket.Budget(0));
        bucket.Take(100);
        Assert.True(bucket.WaitFor(1, 0) > 0);
        Assert.Equal(100, bucket.Budget(10_000 * Ms)); // the refill stops at the size: the burst is gone
        Assert.Equal(0UL, bucket.BurstLeft);
    }

    [Fact]
    public void A_request_partly_paid_by_the_burst_takes_the_rest_from_the_budget()
    {
        var bucket = new TokenBucket(new BucketLimit(100, 30, 100), 0);
        Assert.Equal(0, bucket.WaitFor(130, 0));
        bucket.Take(130);
        Assert.Equal(0, bucket.Budget(0));
        Assert.Equal(0UL, bucket.BurstLeft);
    }

    [Fact]
    public void A_request_larger_than_the_bucket_goes_when_full_and_leaves_a_debt()
    {
        var bucket = new TokenBucket(new BucketLimit(100, 0, 100), 0);
        bucket.Take(50);
        Assert.Equal(50 * Ms, bucket.WaitFor(250, 0));   // it waits for a full bucket, not for 250 tokens
        Assert.Equal(0, bucket.WaitFor(250, 50 * Ms));
        bucket.Take(250);
        Assert.Equal(-150, bucket.Budget(50 * Ms));
        Assert.Equal(151 * Ms, bucket.WaitFor(1, 50 * Ms)); // the debt is paid off before anything else goes
    }

    [Fact]
    public void Huge_sizes_bursts_and_refill_times_do_not_overflow()
    {
        var bucket = new TokenBucket(new BucketLimit(ulong.MaxValue, ulong.MaxValue, ulong.MaxValue), 0);
        Assert.Equal(0, bucket.WaitFor(ulong.MaxValue, 0));
        bucket.Take(ulong.MaxValue);
        bucket.Take(ulong.MaxValue);
        Assert.Equal(0, bucket.Budget(0));
        Assert.Equal(long.MaxValue, bucket.WaitFor(ulong.MaxValue, long.MaxValue / 2));
        Assert.True(bucket.Budget(long.MaxValue) > 0);

        // A 1 ns refill of the largest bucket: the refill product is at its largest.
        var fast = new TokenBucket(new BucketLimit(ulong.MaxValue, 0, 1), 0);
        fast.Take(ulong.MaxValue);
        Assert.Equal((Int128)ulong.MaxValue / 2, fast.Budget(Ms / 2));
        Assert.Equal((Int128)ulong.MaxValue, fast.Budget(long.MaxValue));
    }

    [Fact]
    public void Time_that_goes_backwards_changes_nothing()
    {
        var bucket = new TokenBucket(new BucketLimit(10, 0, 10), 100 * Ms);
        bucket.Take(10);
        Assert.Equal(0, bucket.Budget(0));
        Assert.Equal(5, bucket.Budget(105 * Ms));
    }

    [Fact]
    public void A_bucket_of_size_or_refill_time_zero_is_not_a_bucket()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenBucket(new BucketLimit(0, 5, 100), 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenBucket(new BucketLimit(5, 5, 0), 0));
    }
}
