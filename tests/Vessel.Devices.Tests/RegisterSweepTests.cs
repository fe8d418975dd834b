using Vessel.Devices.Platform;
using Vessel.Devices.Tests.Platform;

namespace Vessel.Devices.Tests;

/// <summary>Every register of every device, written and read with extreme values and every access size (legal
/// or not), while the device's clock jumps: nothing may throw, and each device must still work afterwards.</summary>
[Trait("Category", "Hostile")]
public class RegisterSweepTests
{
    private static readonly uint[] Extremes = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF];
    private static readonly int[] Sizes = [0, 1, 2, 3, 4, 8];

    /// <summary>For each offset, each size and each extreme value: write, then read, twice over.</summary>
    private static void Sweep(IPortDevice device, int length, Action? between = null)
    {
        for (int pass = 0; pass < 2; pass++)
            for (int offset = 0; offset < length + 2; offset++)
                foreach (int size in Sizes)
                    foreach (uint value in Extremes)
                    {
                        device.Write((ushort)offset, size, value);
                        device.Read((ushort)offset, size);
                        between?.Invoke();
                    }
    }

    [Fact]
    public void Uart16550_keeps_transmitting()
    {
        var sent = new List<byte>();
        var uart = new Uart16550(new RecordingInterruptLine(), sent.Add);
        Sweep(uart, 8);
        uart.Write(3, 1, 0x03);       // 8N1, DLAB off
        uart.Write(4, 1, 0x00);       // loopback off
        sent.Clear();
        uart.Write(0, 1, (byte)'x');
        Assert.Equal("x"u8.ToArray(), sent);
    }

    [Fact]
    public void I8042_still_answers_its_self_test()
    {
        var system = new RecordingSystemControl();
        var i8042 = new I8042(system, new RecordingInterruptLine(), new RecordingInterruptLine());
        Sweep(i8042.DataPort, 1);
        Sweep(i8042.CommandPort, 1);
        for (int command = 0; command < 256; command++)     // every controller command, each with a parameter
            foreach (uint value in Extremes)
            {
                i8042.CommandPort.Write(0, 1, (uint)command);
                i8042.DataPort.Write(0, 1, value);
                i8042.DataPort.Read(0, 1);
            }
        for (int i = 0; i < 64 && (i8042.CommandPort.Read(0, 1) & 1) != 0; i++)
            i8042.DataPort.Read(0, 1);                      // drain what the sweep left
        i8042.CommandPort.Write(0, 1, 0xAA);
        Assert.Equal(0x55u, i8042.DataPort.Read(0, 1));
        Assert.True(system.ResetRequests > 0);              // 0xFE pulses reset, as on a PC
    }

    [Fact]
    public void CmosRtc_keeps_a_valid_clock_through_absurd_times()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var rtc = new CmosRtc(512 << 20, 0, () => clock.Now);
        for (int index = 0; index < 128; index++)
            foreach (uint value in Extremes)
            {
                rtc.Write(0, 1, (uint)index);
                rtc.Write(1, 1, value);
                rtc.Read(1, 1);
                clock.Advance(TimeSpan.FromDays(997));
            }
        Sweep(rtc, 2, () => clock.Advance(TimeSpan.FromHours(7)));
        rtc.Write(0, 1, CmosRtc.RegisterB);
        rtc.Write(1, 1, 0x02);                              // BCD, 24 h, SET off
        rtc.Write(0, 1, 0x32);
        uint century = rtc.Read(1, 1);
        Assert.True(century is >= 0x00 and <= 0x99 && (century & 0xF) <= 9, $"century 0x{century:x}");
    }

    [Fact]
    public void FwCfg_still_returns_its_signature()
    {
        var fwCfg = new FwCfg(4, 512 << 20);
        Sweep(fwCfg, 2);
        fwCfg.Write(0, 2, FwCfg.SignatureKey);
        Assert.Equal("QEMU"u8.ToArray(), Enumerable.Range(0, 4).Select(_ => (byte)fwCfg.Read(1, 1)).ToArray());
    }

    [Fact]
    public void DebugExit_and_post_code_only_record()
    {
        var system = new RecordingSystemControl();
        Sweep(new DebugExit(system), 1);
        Assert.Contains(unchecked((int)0xFFFF_FFFF), system.ExitStatuses); // (0xffffffff << 1) | 1, as QEMU
        var post = new PostCodePort();
        Sweep(post, 1);
        Assert.Equal((byte)0xFF, post.LastCode);
    }

    [Fact]
    public void PcTestDev_scratch_irq_lines_and_io_memory()
    {
        var lines = new List<(int, bool)>();
        var flushed = new List<ulong>();
        var testDev = new PcTestDev((gsi, level) => lines.Add((gsi, level)), flushed.Add);
        Sweep(testDev.IoPort, PcTestDev.IoPortLength);
        Sweep(testDev.IoPortByte, PcTestDev.IoPortByteLength);
        Sweep(testDev.FlushPagePort, PcTestDev.FlushPageLength);
        Sweep(testDev.IrqLinePort, PcTestDev.IrqLineCount);
        foreach (ulong offset in new ulong[] { 0, 1, 0xFFF8, 0xFFFC, 0xFFFF, 0x10000, ulong.MaxValue, ulong.MaxValue - 7 })
            foreach (int size in Sizes)
            {
                testDev.IoMem.Write(offset, size, ulong.MaxValue);
                testDev.IoMem.Read(offset, size);
            }
        Assert.All(lines, l => Assert.InRange(l.Item1, 0, PcTestDev.IrqLineCount - 1));
        testDev.IoPort.Write(0, 4, 0x1234_5678);
        Assert.Equal(0x1234_5678u, testDev.IoPortByte.Read(0, 4));
        testDev.IoMem.Write(0xFFF8, 8, 0x0102_0304_0506_0708);
        Assert.Equal(0x0102_0304_0506_0708UL, testDev.IoMem.Read(0xFFF8, 8));
    }

    [Fact]
    public void DualPic_still_delivers_irq0_after_every_command()
    {
        var pic = new DualPic();
        foreach (ushort port in new ushort[] { 0x20, 0x21, 0xA0, 0xA1, PlatformPorts.ElcrMaster, PlatformPorts.ElcrSlave })
            for (int pass = 0; pass < 2; pass++)
                for (int value = 0; value < 256; value++)
                {
                    pic.Write(port, (byte)value);
                    pic.Read(port);
                    pic.SetIrq(value % 16, value % 3 == 0);
                    if (pic.InterruptRequested) pic.Acknowledge();
                }
        for (int irq = -2; irq < 20; irq++)
            pic.SetIrq(irq, true);
        for (int irq = 0; irq < 16; irq++) pic.SetIrq(irq, false);
        pic.Write(PlatformPorts.ElcrMaster, 0);
        pic.Write(PlatformPorts.ElcrSlave, 0);
        foreach (var (port, value) in new (ushort, byte)[] { (0x20, 0x11), (0x21, 0x08), (0x21, 0x04), (0x21, 0x01), (0x21, 0),
                     (0xA0, 0x11), (0xA1, 0x70), (0xA1, 0x02), (0xA1, 0x01), (0xA1, 0) })
            pic.Write(port, value);
        pic.SetIrq(0, true);
        Assert.True(pic.InterruptRequested);
        Assert.Equal(0x08, pic.Acknowledge());
    }

    [Fact]
    public void Pit8254_keeps_counting_through_every_mode_count_and_a_century_of_uptime()
    {
        var clock = new FakePlatformClock { Nanoseconds = 0 };
        int edges = 0;
        var pit = new Pit8254(() => clock.Nanoseconds, level => { if (level) edges++; });
        long[] jumps = [0, 1, 838, 1_000_000, 55_000_000, 3_600_000_000_000, long.MaxValue / 4];
        foreach (long jump in jumps)
        {
            clock.Nanoseconds = Math.Min(clock.Nanoseconds + jump, long.MaxValue / 2);
            for (int control = 0; control < 256; control++)
                foreach (uint count in new uint[] { 0, 1, 2, 3, 0x9999, 0xFFFF })
                {
                    pit.Write(PlatformPorts.PitCommand, (byte)control);
                    int channel = Math.Min(control >> 6, 2);
                    pit.Write((ushort)(PlatformPorts.PitChannel0 + channel), (byte)count);
                    pit.Write((ushort)(PlatformPorts.PitChannel0 + channel), (byte)(count >> 8));
                    pit.Write(PlatformPorts.PitPortB, (byte)control);
                    pit.Read((ushort)(PlatformPorts.PitChannel0 + channel));
                    pit.Read(PlatformPorts.PitPortB);
                    clock.Nanoseconds += 419;
                    long next = pit.Poll();
                    Assert.True(next == long.MaxValue || next > 0, $"next edge {next}");
                }
        }
        // Channel 0, mode 2, 1000 ticks: it still interrupts once a period.
        pit.Write(PlatformPorts.PitCommand, 0x34);
        pit.Write(PlatformPorts.PitChannel0, 0xE8);
        pit.Write(PlatformPorts.PitChannel0, 0x03);
        pit.Poll();
        edges = 0;
        for (int i = 0; i < 3; i++)
        {
            clock.Nanoseconds = pit.Poll();
            pit.Poll();
        }
        Assert.Equal(3, edges);
    }

    [Fact]
    public void IoApic_every_select_value_and_pin()
    {
        var delivered = new List<ApicMessage>();
        var ioApic = new IoApic(delivered.Add);
        foreach (ulong offset in new ulong[] { 0, 4, 0x10, 0x14, 0x20, 0x40, 0xFFF, ulong.MaxValue })
            for (uint select = 0; select < 256; select++)
                foreach (uint value in Extremes)
                {
                    ioApic.Write(0, select);
                    ioApic.Write(offset, value);
                    ioApic.Read(offset);
                }
        for (int pin = -1; pin <= IoApic.Pins; pin++)
        {
            ioApic.SetIrq(pin, true);
            ioApic.SetIrq(pin, false);
        }
        for (int vector = -1; vector < 300; vector++)
            ioApic.EndOfInterrupt(vector);
        // Pin 4, edge, vector 0x34, unmasked: still delivered.
        ioApic.Write(0, 0x18);
        ioApic.Write(0x10, 0x34);
        ioApic.Write(0, 0x19);
        ioApic.Write(0x10, 0);
        delivered.Clear();
        ioApic.SetIrq(4, true);
        Assert.Equal(0x34, Assert.Single(delivered).Vector);
    }
}
