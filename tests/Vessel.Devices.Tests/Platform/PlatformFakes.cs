using Vessel.Devices.Platform;

namespace Vessel.Devices.Tests.Platform;

internal sealed class FakePlatformClock : IPlatformClock
{
    public long Nanoseconds;
    public long NowNanoseconds() => Nanoseconds;
    public void AdvancePitTicks(long ticks) => Nanoseconds = Pit8254.NanosecondsAt(Pit8254.TicksAt(Nanoseconds) + ticks);
}

internal sealed class RecordingMessageSink : IInterruptMessageSink
{
    public List<InterruptMessage> Messages { get; } = [];
    public void Deliver(in InterruptMessage message) => Messages.Add(message);
}
