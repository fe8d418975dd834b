namespace Vessel.Devices.Platform;

/// <summary>The 8254 programmable interval timer at 0x40-0x43, counting at 1193182 Hz of guest time.
/// Channel 0 drives IRQ 0 (an edge per rising OUT), channel 1 is the idle refresh counter, channel 2 is
/// gated by port 0x61 (<see cref="SetChannel2Gate"/>) and its OUT is read back there. Counters are
/// computed from the clock; <see cref="Service"/> must run by the returned deadline so IRQ 0 fires on
/// time. Not thread-safe: the platform serialises calls.</summary>
public sealed class Pit8254
{
    public const ushort BasePort = 0x40;
    public const long FrequencyHz = 1_193_182;

    private readonly IPlatformClock _clock;
    private readonly IInterruptLine _irq0;
    private readonly PitChannel[] _channels = [new(gate: true), new(gate: true), new(gate: false)];
    private long _serviced;  // PIT tick up to which channel 0's edges have been delivered
    private long _nextEdge = long.MaxValue;

    public Pit8254(IPlatformClock clock, IInterruptLine irq0)
    {
        _clock = clock;
        _irq0 = irq0;
    }

    public static long TicksAt(long nanoseconds) => (long)((Int128)nanoseconds * FrequencyHz / 1_000_000_000);

    /// <summary>The first nanosecond at which the PIT has counted <paramref name="ticks"/>.</summary>
    public static long NanosecondsAt(long ticks) =>
        ticks == long.MaxValue ? long.MaxValue : (long)(((Int128)ticks * 1_000_000_000 + FrequencyHz - 1) / FrequencyHz);

    private long Now => TicksAt(_clock.NowNanoseconds());

    public byte Read(int offset)
    {
        if (offset == 3) return 0xFF; // the control word register is write-only
        return _channels[offset].Read(Now);
    }

    public void Write(int offset, byte value)
    {
        long now = Now;
        if (offset < 3)
        {
            _channels[offset].WriteCount(value, now);
            if (offset == 0) Reschedule(now);
            return;
        }
        int select = value >> 6;
        if (select == 3)
        {
            ReadBack(value, now);
            return;
        }
        PitChannel channel = _channels[select];
        int access = (value >> 4) & 3;
        if (access == 0)
        {
            channel.Latch(now);
            return;
        }
        channel.SetMode((value >> 1) & 7, access, (value & 1) != 0, now);
        if (select == 0) Reschedule(now);
    }

    private void ReadBack(byte value, long now)
    {
        for (int i = 0; i < 3; i++)
        {
            if ((value & (2 << i)) == 0) continue;
            if ((value & 0x20) == 0) _channels[i].Latch(now);
            if ((value & 0x10) == 0) _channels[i].LatchStatus(now);
        }
    }

    public void SetChannel2Gate(bool gate) => _channels[2].SetGate(gate, Now);

    public bool Channel2Gate => _channels[2].Gate;

    public bool Channel2Output => _channels[2].Output(Now);

    /// <summary>Delivers channel 0's due IRQ 0 edge (late edges coalesce into one, as a real PIC would
    /// latch them) and returns the guest nanosecond of the next one (long.MaxValue if none).</summary>
    public long Service()
    {
        long now = Now;
        if (now >= _nextEdge)
        {
            _irq0.Set(true);
            _irq0.Set(false);
            _serviced = now;
            _nextEdge = _channels[0].NextRisingEdge(now);
        }
        return NanosecondsAt(_nextEdge);
    }

    private void Reschedule(long now)
    {
        _serviced = now;
        _nextEdge = _channels[0].NextRisingEdge(now);
    }
}
