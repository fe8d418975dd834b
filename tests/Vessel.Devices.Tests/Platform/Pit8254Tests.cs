using Vessel.Devices.Platform;

namespace Vessel.Devices.Tests.Platform;

public class Pit8254Tests
{
    private readonly FakePlatformClock _clock = new() { Nanoseconds = 1_000_000 };
    private readonly RecordingInterruptLine _irq0 = new();
    private readonly Pit8254 _pit;

    public Pit8254Tests() => _pit = new Pit8254(() => _clock.Nanoseconds, _irq0.Set);

    private void SetChannel2Gate(bool gate) => _pit.Write(PlatformPorts.PitPortB, (byte)(gate ? 1 : 0));
    private bool Channel2Output => (_pit.Read(PlatformPorts.PitPortB) & 0x20) != 0;

    private void Program(int channel, int mode, int count, bool bcd = false)
    {
        _pit.Write(0x43, (byte)((channel << 6) | 0x30 | (mode << 1) | (bcd ? 1 : 0)));
        _pit.Write((ushort)(0x40 + channel), (byte)count);
        _pit.Write((ushort)(0x40 + channel), (byte)(count >> 8));
    }

    private int ReadCount(int channel)
    {
        _pit.Write(0x43, (byte)(channel << 6)); // latch
        int low = _pit.Read((ushort)(0x40 + channel));
        return low | (_pit.Read((ushort)(0x40 + channel)) << 8);
    }

    private int Irq0Edges => _irq0.Levels.Count(l => l);

    [Fact]
    public void Mode0_counts_down_at_the_pit_rate_and_raises_irq0_once_at_terminal_count()
    {
        Program(0, 0, 1000);
        _pit.Poll();
        _clock.AdvancePitTicks(400);
        Assert.Equal(600, ReadCount(0));
        Assert.Equal(0, Irq0Edges);
        long next = _pit.Poll();
        _clock.Nanoseconds = next;
        _pit.Poll();
        Assert.Equal(1, Irq0Edges);
        _clock.AdvancePitTicks(5000);
        Assert.Equal(long.MaxValue, _pit.Poll());
        Assert.Equal(1, Irq0Edges);
    }

    [Fact]
    public void Mode2_fires_every_period_and_reports_the_next_deadline()
    {
        Program(0, 2, 100);
        long first = _pit.Poll();
        Assert.Equal(FakePlatformClock.NanosecondsAt(FakePlatformClock.TicksAt(1_000_000) + 100), first);
        for (int i = 1; i <= 5; i++)
        {
            _clock.Nanoseconds = _pit.Poll();
            _pit.Poll();
            Assert.Equal(i, Irq0Edges);
        }
    }

    [Fact]
    public void Late_service_coalesces_missed_periods_into_one_edge()
    {
        Program(0, 2, 100);
        _clock.AdvancePitTicks(1050);
        _pit.Poll();
        Assert.Equal(1, Irq0Edges);
        long next = _pit.Poll();
        Assert.Equal(FakePlatformClock.NanosecondsAt(FakePlatformClock.TicksAt(1_000_000) + 1100), next);
    }

    [Fact]
    public void Mode3_square_wave_counts_by_two_and_out_is_high_for_the_first_half()
    {
        _pit.Write(0x43, 0xB6); // channel 2, lobyte/hibyte, mode 3
        _pit.Write(0x42, 100);
        _pit.Write(0x42, 0);
        SetChannel2Gate(true);
        Assert.True(Channel2Output);
        _clock.AdvancePitTicks(10);
        Assert.Equal(80, ReadCount(2));
        _clock.AdvancePitTicks(45);
        Assert.False(Channel2Output);
        _clock.AdvancePitTicks(50);
        Assert.True(Channel2Output);
    }

    [Fact]
    public void Channel2_does_not_count_while_its_gate_is_low_in_mode0()
    {
        Program(2, 0, 500);
        _clock.AdvancePitTicks(300);
        Assert.Equal(500, ReadCount(2));
        Assert.False(Channel2Output);
        SetChannel2Gate(true);
        _clock.AdvancePitTicks(499);
        Assert.False(Channel2Output);
        _clock.AdvancePitTicks(1);
        Assert.True(Channel2Output);
    }

    [Fact]
    public void Mode1_one_shot_starts_on_the_gate_rising_edge()
    {
        Program(2, 1, 50);
        Assert.True(Channel2Output);
        _clock.AdvancePitTicks(100);
        Assert.True(Channel2Output);
        SetChannel2Gate(true);
        Assert.False(Channel2Output);
        _clock.AdvancePitTicks(20);
        Assert.Equal(30, ReadCount(2));
        _clock.AdvancePitTicks(30);
        Assert.True(Channel2Output);
    }

    [Fact]
    public void Mode4_strobe_is_low_for_one_tick_at_terminal_count()
    {
        Program(0, 4, 10);
        _clock.AdvancePitTicks(9);
        Assert.Equal(0, Irq0Edges);
        _pit.Poll();
        _clock.AdvancePitTicks(2);
        _pit.Poll();
        Assert.Equal(1, Irq0Edges);
        Assert.Equal(long.MaxValue, _pit.Poll());
    }

    [Fact]
    public void Mode5_strobe_waits_for_the_gate_trigger()
    {
        Program(2, 5, 10);
        _clock.AdvancePitTicks(20);
        Assert.True(Channel2Output);
        SetChannel2Gate(true);
        _clock.AdvancePitTicks(10);
        Assert.False(Channel2Output);
        _clock.AdvancePitTicks(1);
        Assert.True(Channel2Output);
    }

    [Fact]
    public void Bcd_counts_in_decimal()
    {
        Program(0, 0, 0x1234, bcd: true);
        _clock.AdvancePitTicks(35);
        Assert.Equal(0x1199, ReadCount(0));
    }

    [Fact]
    public void Lobyte_only_and_hibyte_only_access()
    {
        _pit.Write(0x43, 0x10); // channel 0, lobyte only, mode 0
        _pit.Write(0x40, 200);
        _clock.AdvancePitTicks(50);
        Assert.Equal(150, _pit.Read(0x40));
        _pit.Write(0x43, 0x20); // hibyte only
        _pit.Write(0x40, 0x02);
        _clock.AdvancePitTicks(0x100);
        Assert.Equal(0x01, _pit.Read(0x40));
    }

    [Fact]
    public void Latch_freezes_the_value_until_read()
    {
        Program(0, 2, 1000);
        _clock.AdvancePitTicks(100);
        _pit.Write(0x43, 0x00);
        _clock.AdvancePitTicks(100);
        int value = _pit.Read(0x40) | (_pit.Read(0x40) << 8);
        Assert.Equal(900, value);
        Assert.Equal(800, ReadCount(0));
    }

    [Fact]
    public void Read_back_latches_status_then_count()
    {
        Program(2, 0, 300);
        _pit.Write(0x43, 0xC8); // read-back: count and status of channel 2
        byte status = _pit.Read(0x42);
        Assert.Equal(0x30 | (0 << 1), status & 0x3F);
        Assert.Equal(0, status & 0x80); // OUT low in mode 0
        Assert.Equal(0, status & 0x40); // count loaded
        int count = _pit.Read(0x42) | (_pit.Read(0x42) << 8);
        Assert.Equal(300, count);
    }

    [Fact]
    public void Port_b_gates_channel2_and_reads_its_output()
    {
        Program(2, 0, 100);
        _pit.Write(PlatformPorts.PitPortB, 0x01);
        Assert.Equal(0x01, _pit.Read(PlatformPorts.PitPortB) & 0x23);
        _clock.AdvancePitTicks(100);
        Assert.Equal(0x21, _pit.Read(PlatformPorts.PitPortB) & 0x23);
        _pit.Write(PlatformPorts.PitPortB, 0x03);
        Assert.Equal(0x23, _pit.Read(PlatformPorts.PitPortB) & 0x23);
    }
}
