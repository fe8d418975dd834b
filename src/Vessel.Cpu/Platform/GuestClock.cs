using System.Diagnostics;

namespace Vessel.Cpu.Platform;

/// <summary>Guest time for one VM: follows host monotonic time from the VM's creation. The TSC ticks at
/// <see cref="TscHz"/>, the figure CPUID leaves 0x15/0x16 advertise, so Linux needs no calibration and
/// its clock neither drifts nor jumps.</summary>
internal sealed class GuestClock
{
    /// <summary>1 GHz: one TSC tick per nanosecond keeps every conversion exact.</summary>
    public const long TscHz = 1_000_000_000;

    private readonly long _origin = Stopwatch.GetTimestamp();

    /// <summary>The Stopwatch timestamp guest time counts from (translated RDTSC reads the host clock itself).</summary>
    public long Origin => _origin;

    /// <summary>Nanoseconds since the VM was created.</summary>
    public long NowNanoseconds() => StopwatchToNanoseconds(Stopwatch.GetTimestamp() - _origin);

    /// <summary>The TSC value before any per-vCPU offset (IA32_TSC writes keep an offset per vCPU).</summary>
    public ulong ReadTsc() => (ulong)NowNanoseconds();

    /// <summary>The host Stopwatch timestamp at which guest time reaches <paramref name="nanoseconds"/>.
    /// Saturates at long.MaxValue: a deadline centuries away is "never", not a wrapped timestamp in the past.</summary>
    public long TimestampAt(long nanoseconds)
    {
        double ticks = (double)nanoseconds * Stopwatch.Frequency / 1_000_000_000;
        return ticks >= long.MaxValue - _origin ? long.MaxValue : _origin + (long)ticks;
    }

    /// <summary>A span of Stopwatch ticks in nanoseconds.</summary>
    public static long StopwatchToNanoseconds(long ticks) =>
        Stopwatch.Frequency == 1_000_000_000 ? ticks : (long)((double)ticks * 1_000_000_000 / Stopwatch.Frequency);
}
