namespace Vessel.Devices.Platform;

/// <summary>Port 0x61 (system control port B): bit 0 gates PIT channel 2, bit 1 enables the speaker,
/// bit 4 toggles with DRAM refresh (every 15 µs) and bit 5 reads PIT channel 2's OUT, which Linux
/// polls to calibrate against the PIT.</summary>
public sealed class SystemControlPortB(Pit8254 pit, IPlatformClock clock)
{
    public const ushort Port = 0x61;
    private const long RefreshPeriodNs = 15_085;
    private bool _speakerData;

    public byte Read()
    {
        int value = (pit.Channel2Gate ? 1 : 0) | (_speakerData ? 2 : 0);
        if ((clock.NowNanoseconds() / RefreshPeriodNs & 1) != 0) value |= 0x10;
        if (pit.Channel2Output) value |= 0x20;
        return (byte)value;
    }

    public void Write(byte value)
    {
        _speakerData = (value & 2) != 0;
        pit.SetChannel2Gate((value & 1) != 0);
    }
}
