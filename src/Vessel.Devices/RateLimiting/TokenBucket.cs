namespace Vessel.Devices.RateLimiting;

/// <summary>
/// A token bucket with no clock of its own: every call says what time it is (nanoseconds on any monotonic
/// clock). Tokens accrue at <c>Size</c> per <c>RefillTimeMs</c>, exactly in integers (the fraction of a token
/// earned but not yet whole is carried to the next refill), up to <c>Size</c>. The one-time burst is spent first.
/// A request larger than the bucket can never fit: it is granted once the bucket is full and leaves a debt the
/// refill pays off first, so the average rate holds. Arithmetic is 128-bit: any 64-bit size, burst and refill
/// time works without overflow. Not thread-safe (a device's worker owns it).
/// </summary>
public sealed class TokenBucket
{
    private const ulong NanosecondsPerMillisecond = 1_000_000;

    private readonly UInt128 _size;
    private readonly UInt128 _refillNanoseconds;
    private Int128 _budget;
    private ulong _burstLeft;
    private long _lastRefill;

    public TokenBucket(BucketLimit limit, long now)
    {
        if (!limit.Limits)
            throw new ArgumentOutOfRangeException(nameof(limit), "a token bucket needs a size and a refill time above 0");
        Limit = limit;
        _size = limit.Size;
        _refillNanoseconds = (UInt128)limit.RefillTimeMs * NanosecondsPerMillisecond;
        _budget = (Int128)_size;
        _burstLeft = limit.OneTimeBurst;
        _lastRefill = now;
    }

    public BucketLimit Limit { get; }

    /// <summary>Tokens in the bucket now, after refilling (negative while a debt is being paid off).</summary>
    public Int128 Budget(long now)
    {
        Refill(now);
        return _budget;
    }

    /// <summary>What is left of the one-time burst.</summary>
    public ulong BurstLeft => _burstLeft;

    /// <summary>Nanoseconds from <paramref name="now"/> until <paramref name="tokens"/> may be taken: 0 means now.
    /// Takes nothing.</summary>
    public long WaitFor(ulong tokens, long now)
    {
        Refill(now);
        if (tokens <= _burstLeft)
            return 0;
        UInt128 needed = UInt128.Min(tokens - _burstLeft, _size);
        if (_budget >= (Int128)needed)
            return 0;
        // Time for the missing tokens, less what has accrued towards the next one since the last refill. Only an
        // estimate is needed (the caller asks again then), so doubles do: no overflow whatever the values.
        double missing = (double)((Int128)needed - _budget);
        double wait = Math.Ceiling(missing * (double)_refillNanoseconds / (double)_size) - (now - _lastRefill);
        return wait >= long.MaxValue ? long.MaxValue : Math.Max(1, (long)wait);
    }

    /// <summary>Takes <paramref name="tokens"/> (after <see cref="WaitFor"/> said 0): the burst first, then the budget.</summary>
    public void Take(ulong tokens)
    {
        if (tokens <= _burstLeft)
        {
            _burstLeft -= tokens;
            return;
        }
        tokens -= _burstLeft;
        _burstLeft = 0;
        _budget -= tokens;
    }

    private void Refill(long now)
    {
        if (now <= _lastRefill)
            return;
        ulong elapsed = (ulong)(now - _lastRefill);
        // elapsed < 2^63 and size < 2^64: the product fits in 128 bits.
        UInt128 earned = elapsed * _size / _refillNanoseconds;
        if (_budget + (Int128)earned >= (Int128)_size)
        {
            _budget = (Int128)_size;
            _lastRefill = now;
            return;
        }
        if (earned == 0)
            return;
        _budget += (Int128)earned;
        // Advance only by the time those whole tokens took (rounded up), carrying the fraction of the next.
        UInt128 spent = earned * _refillNanoseconds;
        UInt128 used = spent / _size + (spent % _size != 0 ? 1u : 0u);
        _lastRefill += (long)used;
    }
}
