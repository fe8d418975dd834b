namespace Vessel.Devices.RateLimiting;

/// <summary>One token bucket as Firecracker configures it: <see cref="Size"/> tokens, refilled from empty to full
/// in <see cref="RefillTimeMs"/> milliseconds, plus <see cref="OneTimeBurst"/> tokens spent first that never come
/// back. A size or refill time of 0 means no limit.</summary>
public readonly record struct BucketLimit(ulong Size, ulong OneTimeBurst, ulong RefillTimeMs)
{
    public bool Limits => Size != 0 && RefillTimeMs != 0;
}

/// <summary>A device's limit in Firecracker's terms: a bucket of bytes and a bucket of operations, each optional
/// (null: unlimited). As an update (<see cref="Apply"/>), a null bucket means "keep the one there is" and a
/// bucket of size 0 or refill time 0 means "no limit any more", as in Firecracker's PATCH.</summary>
public sealed record RateLimit(BucketLimit? Bandwidth, BucketLimit? Ops)
{
    public static readonly RateLimit None = new(null, null);

    /// <summary>True when neither bucket limits anything.</summary>
    public bool IsUnlimited => Bandwidth is not { Limits: true } && Ops is not { Limits: true };

    /// <summary>This limit with <paramref name="update"/>'s buckets in place of its own, disabled ones dropped.</summary>
    public RateLimit Apply(RateLimit update) =>
        new RateLimit(update.Bandwidth ?? Bandwidth, update.Ops ?? Ops).WithoutDisabledBuckets();

    /// <summary>The same limit with buckets that limit nothing (size or refill time 0) removed.</summary>
    public RateLimit WithoutDisabledBuckets() =>
        new(Bandwidth is { Limits: true } ? Bandwidth : null, Ops is { Limits: true } ? Ops : null);
}
