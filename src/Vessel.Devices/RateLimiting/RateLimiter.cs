namespace Vessel.Devices.RateLimiting;

/// <summary>
/// Firecracker's rate limiter: a bytes bucket and an operations bucket (either may be absent). A device asks
/// <see cref="TryConsume"/> before it serves a request; if either bucket lacks tokens nothing is taken and the
/// answer says how long to wait. No clock and no thread inside: time comes with each call (nanoseconds, any
/// monotonic clock). Not thread-safe: the device's worker owns it; a new limit makes a new instance
/// (<see cref="Updated"/>), so another thread can swap it in with one reference write.
/// </summary>
public sealed class RateLimiter
{
    private readonly TokenBucket? _bandwidth;
    private readonly TokenBucket? _ops;

    public RateLimiter(RateLimit limit, long now)
        : this(limit.WithoutDisabledBuckets(), null, null, now)
    {
    }

    private RateLimiter(RateLimit limit, TokenBucket? keepBandwidth, TokenBucket? keepOps, long now)
    {
        Limit = limit;
        _bandwidth = limit.Bandwidth is { } b ? keepBandwidth ?? new TokenBucket(b, now) : null;
        _ops = limit.Ops is { } o ? keepOps ?? new TokenBucket(o, now) : null;
    }

    /// <summary>The buckets in force (disabled ones removed).</summary>
    public RateLimit Limit { get; }

    public bool IsUnlimited => _bandwidth is null && _ops is null;

    /// <summary>Consumes <paramref name="bytes"/> and <paramref name="ops"/> together, or neither: false with
    /// <paramref name="waitNanoseconds"/> until both buckets can give them.</summary>
    public bool TryConsume(ulong bytes, ulong ops, long now, out long waitNanoseconds)
    {
        waitNanoseconds = Math.Max(_bandwidth?.WaitFor(bytes, now) ?? 0, _ops?.WaitFor(ops, now) ?? 0);
        if (waitNanoseconds > 0)
            return false;
        _bandwidth?.Take(bytes);
        _ops?.Take(ops);
        return true;
    }

    /// <summary>Firecracker's PATCH: a bucket <paramref name="update"/> names replaces this one's (full, as a new
    /// bucket starts) or, with size or refill time 0, removes it; a bucket it leaves out keeps its state.</summary>
    public RateLimiter Updated(RateLimit update, long now) =>
        new(Limit.Apply(update), update.Bandwidth is null ? _bandwidth : null, update.Ops is null ? _ops : null, now);
}
