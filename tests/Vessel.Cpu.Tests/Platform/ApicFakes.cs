using Vessel.Cpu.Platform;

namespace Vessel.Cpu.Tests.Platform;

/// <summary>Guest time the test sets by hand; host timestamps equal guest nanoseconds.</summary>
internal sealed class FakeTimeBase : IGuestTimeBase
{
    public long Nanoseconds;
    public long NowNanoseconds() => Nanoseconds;
    public long NanosecondsAt(long timestamp) => timestamp;
    public long TimestampAt(long nanoseconds) => nanoseconds;
}

internal sealed class FakeApicHost(int id, FakeTimeBase time) : ILocalApicHost
{
    public ulong ApicBaseValue = 0xFEE0_0000 | (1UL << 11) | (id == 0 ? 1UL << 8 : 0);
    public int Inits, Wakes, TimerPollRequests;
    public List<int> Sipis { get; } = [];
    public long TscOffset;

    public int VcpuId => id;
    public ulong ApicBase => ApicBaseValue;
    public ulong ReadTsc() => (ulong)(time.Nanoseconds + TscOffset);
    public void SignalInit() => Inits++;
    public void SignalSipi(int vector) => Sipis.Add(vector);
    public void Wake() => Wakes++;
    public void RequestTimerPoll() => TimerPollRequests++;
}

internal sealed class FakeExtInt : IExtIntSource
{
    public int Vector = 0x20;
    public int Acknowledged;
    public int AcknowledgeExtInt()
    {
        Acknowledged++;
        return Vector;
    }
}
