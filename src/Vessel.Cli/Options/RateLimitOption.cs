using Vessel.Cli.Api;
using Vessel.Devices.RateLimiting;

namespace Vessel.Cli.Options;

/// <summary>Firecracker's rate_limiter objects (drives, network interfaces, entropy; API and config file alike) and
/// the devices' <see cref="RateLimit"/>: the one place one becomes the other. The JSON's types already hold every
/// rule Firecracker has (sizes and times are unsigned 64-bit, size and refill_time required; a wrong one is refused
/// naming its path); what is left is meaning: a bucket of size 0 or refill_time 0 limits nothing, and is shown back
/// as absent, with a one_time_burst of 0 as absent, as Firecracker shows its live limiters.</summary>
public static class RateLimitOption
{
    /// <summary>The limit a device starts with, or null when nothing limits.</summary>
    public static RateLimit? ToLimit(RateLimiterConfig? config)
    {
        var limit = ToUpdate(config)?.WithoutDisabledBuckets();
        return limit is null || limit.IsUnlimited ? null : limit;
    }

    /// <summary>A PATCH's change: a bucket given replaces (size or refill_time 0: removes), a bucket left out stays.</summary>
    public static RateLimit? ToUpdate(RateLimiterConfig? config) =>
        config is null ? null : new RateLimit(ToBucket(config.Bandwidth), ToBucket(config.Ops));

    /// <summary>What GET /vm/config shows for <paramref name="config"/>.</summary>
    public static RateLimiterConfig? Normalise(RateLimiterConfig? config) => FromLimit(ToLimit(config));

    /// <summary>The configuration after a PATCH of <paramref name="update"/> onto <paramref name="current"/>.</summary>
    public static RateLimiterConfig? Merge(RateLimiterConfig? current, RateLimiterConfig? update) =>
        update is null ? current : FromLimit((ToLimit(current) ?? RateLimit.None).Apply(ToUpdate(update)!));

    public static RateLimiterConfig? FromLimit(RateLimit? limit) =>
        limit is null || limit.IsUnlimited ? null : new RateLimiterConfig { Bandwidth = FromBucket(limit.Bandwidth), Ops = FromBucket(limit.Ops) };

    private static BucketLimit? ToBucket(TokenBucketConfig? bucket) =>
        bucket is null ? null : new BucketLimit(bucket.Size, bucket.OneTimeBurst ?? 0, bucket.RefillTime);

    private static TokenBucketConfig? FromBucket(BucketLimit? bucket) => bucket is { } b
        ? new TokenBucketConfig { Size = b.Size, OneTimeBurst = b.OneTimeBurst == 0 ? null : b.OneTimeBurst, RefillTime = b.RefillTimeMs }
        : null;
}
