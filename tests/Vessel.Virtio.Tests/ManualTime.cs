namespace Vessel.Virtio.Tests;

/// <summary>A clock the test moves by hand (timestamps in microseconds).</summary>
internal sealed class ManualTime : TimeProvider
{
    private long _micros;

    public override long TimestampFrequency => 1_000_000;
    public override long GetTimestamp() => Interlocked.Read(ref _micros);
    public void Advance(TimeSpan by) => Interlocked.Add(ref _micros, (long)(by.TotalMilliseconds * 1000));
}
