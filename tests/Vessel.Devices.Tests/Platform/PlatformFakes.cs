using Vessel.Devices.Platform;

namespace Vessel.Devices.Tests.Platform;

/// <summary>Guest nanoseconds the test moves by hand, with PIT-tick helpers.</summary>
internal sealed class FakePlatformClock
{
    public long Nanoseconds;
    public static long TicksAt(long ns) => (long)((Int128)ns * Pit8254.FrequencyHz / 1_000_000_000);
    public static long NanosecondsAt(long ticks) => (long)(((Int128)ticks * 1_000_000_000 + Pit8254.FrequencyHz - 1) / Pit8254.FrequencyHz);
    public void AdvancePitTicks(long ticks) => Nanoseconds = NanosecondsAt(TicksAt(Nanoseconds) + ticks);
}
