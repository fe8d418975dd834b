using Vessel.Devices.RateLimiting;

namespace Vessel.Virtio.Devices;

/// <summary>
/// The rate limit one direction of a device obeys (a disk's requests, a NIC's receive or transmit side, the rng's
/// bytes): a <see cref="RateLimiter"/> read on the worker thread, replaced from any thread by <see cref="Update"/>.
/// Unlimited costs one null check per request. The clock is the device's <see cref="TimeProvider"/>.
/// </summary>
public sealed class QueueRateLimit
{
    /// <summary>The longest a throttled queue sleeps before it looks again (a new limit or more tokens may have come).</summary>
    public const int MaxRetryMs = 1000;

    private readonly TimeProvider _time;
    private readonly Action _changed;
    private readonly Lock _updateLock = new();
    private volatile RateLimiter? _limiter;
    private long _throttled;

    /// <param name="changed">Called after <see cref="Update"/>: the device looks at its queues again.</param>
    public QueueRateLimit(TimeProvider time, Action changed, RateLimit? limit = null)
    {
        _time = time;
        _changed = changed;
        if (limit is { IsUnlimited: false })
            _limiter = new RateLimiter(limit, Now());
    }

    /// <summary>The buckets in force (<see cref="RateLimit.None"/> when unlimited).</summary>
    public RateLimit Limit => _limiter?.Limit ?? RateLimit.None;

    /// <summary>How many times a request was refused (a request that waits through several retries counts each):
    /// Firecracker's rate_limiter_throttled_events.</summary>
    public long ThrottledEvents => Interlocked.Read(ref _throttled);

    /// <summary>On the worker: takes <paramref name="bytes"/> and <paramref name="ops"/>, or takes nothing and says in
    /// <paramref name="retryMs"/> (1 to <see cref="MaxRetryMs"/>) when to ask again.</summary>
    public bool TryConsume(ulong bytes, ulong ops, out int retryMs)
    {
        retryMs = 0;
        var limiter = _limiter;
        if (limiter is null)
            return true;
        if (limiter.TryConsume(bytes, ops, Now(), out long waitNs))
            return true;
        retryMs = (int)Math.Clamp((waitNs + 999_999) / 1_000_000, 1, MaxRetryMs);
        Interlocked.Increment(ref _throttled);
        return false;
    }

    /// <summary>Firecracker's PATCH (see <see cref="RateLimiter.Updated"/>); safe from any thread. The worker sees
    /// the new buckets at its next request.</summary>
    public void Update(RateLimit update)
    {
        lock (_updateLock)
        {
            long now = Now();
            var limiter = _limiter is { } current ? current.Updated(update, now) : new RateLimiter(RateLimit.None.Apply(update), now);
            _limiter = limiter.IsUnlimited ? null : limiter;
        }
        _changed();
    }

    private long Now()
    {
        long ticks = _time.GetTimestamp();
        long frequency = _time.TimestampFrequency;
        return frequency == 1_000_000_000 ? ticks : (long)((Int128)ticks * 1_000_000_000 / frequency);
    }
}
