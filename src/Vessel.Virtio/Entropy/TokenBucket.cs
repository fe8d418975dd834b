namespace Vessel.Virtio.Entropy;

/// <summary>A token bucket over a <see cref="TimeProvider"/>'s timestamps: <see cref="BytesPerSecond"/> tokens accrue
/// continuously up to <see cref="Burst"/>. Not thread-safe (the device's worker owns it).</summary>
public sealed class TokenBucket
{
    private readonly TimeProvider _time;
    private long _lastTimestamp;
    private double _tokens;

    public TokenBucket(long bytesPerSecond, long burst, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytesPerSecond, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(burst, 1);
        BytesPerSecond = bytesPerSecond;
        Burst = burst;
        _time = time ?? TimeProvider.System;
        _lastTimestamp = _time.GetTimestamp();
        _tokens = burst;
    }

    public long BytesPerSecond { get; }
    public long Burst { get; }

    /// <summary>Takes up to <paramref name="wanted"/> tokens; returns how many were granted (possibly 0).</summary>
    public int Take(int wanted)
    {
        Refill();
        int granted = (int)Math.Min(wanted, Math.Floor(_tokens));
        if (granted > 0)
            _tokens -= granted;
        return Math.Max(granted, 0);
    }

    /// <summary>Gives back tokens taken but not used.</summary>
    public void Refund(int tokens) => _tokens = Math.Min(Burst, _tokens + tokens);

    /// <summary>Milliseconds until at least one token is available (at least 1).</summary>
    public int MillisecondsUntilAvailable()
    {
        Refill();
        double missing = 1 - _tokens;
        return missing <= 0 ? 1 : (int)Math.Clamp(Math.Ceiling(missing * 1000 / BytesPerSecond), 1, 1000);
    }

    private void Refill()
    {
        long now = _time.GetTimestamp();
        long elapsed = now - _lastTimestamp;
        if (elapsed <= 0)
            return;
        _lastTimestamp = now;
        _tokens = Math.Min(Burst, _tokens + (double)elapsed * BytesPerSecond / _time.TimestampFrequency);
    }
}
