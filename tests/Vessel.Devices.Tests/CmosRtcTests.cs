using Vessel.Devices;

namespace Vessel.Devices.Tests;

public sealed class CmosRtcTests
{
    private const ulong MiB = 1024 * 1024;

    // Friday 2024-03-15 13:45:27.5 UTC
    private readonly ManualClock _clock = new(new DateTimeOffset(2024, 3, 15, 13, 45, 27, 500, TimeSpan.Zero));
    private readonly CmosRtc _rtc;

    public CmosRtcTests() => _rtc = new CmosRtc(512 * MiB, 0, () => _clock.Now);

    private byte ReadCmos(byte index)
    {
        _rtc.Write(0, 1, index);
        return (byte)_rtc.Read(1, 1);
    }

    private void WriteCmos(byte index, byte value)
    {
        _rtc.Write(0, 1, index);
        _rtc.Write(1, 1, value);
    }

    private byte[] ReadTime() =>
        [ReadCmos(0x00), ReadCmos(0x02), ReadCmos(0x04), ReadCmos(0x06), ReadCmos(0x07), ReadCmos(0x08),
         ReadCmos(0x09), ReadCmos(0x32)];

    [Fact]
    public void DefaultsToBcd24HourTime()
    {
        Assert.Equal(0x26, ReadCmos(CmosRtc.RegisterA));
        Assert.Equal(0x02, ReadCmos(CmosRtc.RegisterB));
        Assert.Equal(new byte[] { 0x27, 0x45, 0x13, 0x06, 0x15, 0x03, 0x24, 0x20 }, ReadTime());
    }

    [Fact]
    public void BinaryMode()
    {
        WriteCmos(CmosRtc.RegisterB, 0x06);
        Assert.Equal(new byte[] { 27, 45, 13, 6, 15, 3, 24, 20 }, ReadTime());
    }

    [Theory]
    [InlineData(13, 0x81)]
    [InlineData(0, 0x12)]
    [InlineData(12, 0x92)]
    [InlineData(11, 0x11)]
    public void TwelveHourModeMarksPm(int hour, byte expected)
    {
        _clock.Now = new DateTimeOffset(2024, 3, 15, hour, 0, 0, TimeSpan.Zero);
        WriteCmos(CmosRtc.RegisterB, 0x00);
        Assert.Equal(expected, ReadCmos(0x04));
    }

    [Fact]
    public void UpdateInProgressIsSetJustBeforeTheSecondBoundary()
    {
        Assert.Equal(0, ReadCmos(CmosRtc.RegisterA) & 0x80);
        _clock.Now = new DateTimeOffset(2024, 3, 15, 13, 45, 27, TimeSpan.Zero).AddTicks(9_998_000);   // .9998 s
        Assert.Equal(0x80, ReadCmos(CmosRtc.RegisterA) & 0x80);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, ReadCmos(CmosRtc.RegisterA) & 0x80);
    }

    [Fact]
    public void SetBitFreezesTimeAndTheWrittenTimeRunsOnAfterwards()
    {
        WriteCmos(CmosRtc.RegisterB, 0x82);
        _clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(0x27, ReadCmos(0x00));     // frozen
        // Linux's mc146818_set_time order: fields, then clear SET.
        WriteCmos(0x00, 0x05);
        WriteCmos(0x02, 0x04);
        WriteCmos(0x04, 0x03);
        WriteCmos(0x07, 0x02);
        WriteCmos(0x08, 0x01);
        WriteCmos(0x09, 0x30);
        WriteCmos(0x32, 0x20);
        WriteCmos(CmosRtc.RegisterB, 0x02);
        Assert.Equal(new DateTime(2030, 1, 2, 3, 4, 5), TruncateToSecond(_rtc.GuestNow));
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(0x15, ReadCmos(0x00));
        Assert.Equal(0x30, ReadCmos(0x09));
        Assert.Equal(0x04, ReadCmos(0x06));     // 2030-01-02 is a Wednesday (Sunday = 1)
    }

    [Fact]
    public void WritingAFieldWithoutSetChangesOnlyThatField()
    {
        WriteCmos(0x02, 0x10);
        Assert.Equal(0x10, ReadCmos(0x02));
        Assert.Equal(0x13, ReadCmos(0x04));
        Assert.Equal(0x27, ReadCmos(0x00));
    }

    [Fact]
    public void AnInvalidTimeIsRejected()
    {
        WriteCmos(CmosRtc.RegisterB, 0x82);
        WriteCmos(0x08, 0x13);                  // month 13
        WriteCmos(CmosRtc.RegisterB, 0x02);
        Assert.Equal(0x03, ReadCmos(0x08));
        WriteCmos(0x07, 0x31);                  // 31 March exists
        Assert.Equal(0x31, ReadCmos(0x07));
        WriteCmos(0x08, 0x02);                  // 31 February does not
        Assert.Equal(0x03, ReadCmos(0x08));
    }

    [Fact]
    public void RegisterCReportsUpdateEndedOnceAndRegisterDIsValid()
    {
        Assert.Equal(0x00, ReadCmos(CmosRtc.RegisterC));
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(0x10, ReadCmos(CmosRtc.RegisterC));
        Assert.Equal(0x00, ReadCmos(CmosRtc.RegisterC));
        WriteCmos(CmosRtc.RegisterB, 0x12);     // UIE
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(0x90, ReadCmos(CmosRtc.RegisterC));
        Assert.Equal(0x80, ReadCmos(CmosRtc.RegisterD));
        WriteCmos(CmosRtc.RegisterD, 0x00);
        Assert.Equal(0x80, ReadCmos(CmosRtc.RegisterD));
    }

    [Fact]
    public void SetClearsUpdateInterruptEnable()
    {
        WriteCmos(CmosRtc.RegisterB, 0x92);
        Assert.Equal(0x82, ReadCmos(CmosRtc.RegisterB));
    }

    [Fact]
    public void MemorySizeBytesFor512MiB()
    {
        Assert.Equal(0x80, ReadCmos(0x15));
        Assert.Equal(0x02, ReadCmos(0x16));     // 640 KiB
        Assert.Equal(0xFF, ReadCmos(0x17));     // 511 MiB in KiB is capped at 0xFFFF
        Assert.Equal(0xFF, ReadCmos(0x18));
        Assert.Equal(0xFF, ReadCmos(0x30));
        Assert.Equal(0xFF, ReadCmos(0x31));
        Assert.Equal(0x00, ReadCmos(0x34));     // (512 - 16) MiB / 64 KiB = 0x1F00
        Assert.Equal(0x1F, ReadCmos(0x35));
        Assert.Equal(0x00, ReadCmos(0x5B));
    }

    [Fact]
    public void MemorySizeBytesForSmallAndHighMemory()
    {
        var rtc = new CmosRtc(8 * MiB, 2048 * MiB, () => _clock.Now);
        byte Read(byte i) { rtc.Write(0, 1, i); return (byte)rtc.Read(1, 1); }
        Assert.Equal(0x00, Read(0x17));         // 7 MiB = 0x1C00 KiB
        Assert.Equal(0x1C, Read(0x18));
        Assert.Equal(0x00, Read(0x34));
        Assert.Equal(0x00, Read(0x35));
        Assert.Equal(0x00, Read(0x5B));         // 2 GiB / 64 KiB = 0x8000
        Assert.Equal(0x80, Read(0x5C));
        Assert.Equal(0x00, Read(0x5D));
    }

    [Fact]
    public void IndexBit7DisablesNmiAndCmosRamRoundTrips()
    {
        _rtc.Write(0, 1, 0x80 | 0x40);
        Assert.True(_rtc.NmiDisabled);
        _rtc.Write(1, 1, 0x5A);
        _rtc.Write(0, 1, 0x40);
        Assert.False(_rtc.NmiDisabled);
        Assert.Equal(0x5Au, _rtc.Read(1, 1));
    }

    [Fact]
    public void HostileAccessesNeverThrow()
    {
        Assert.Equal(0xFFu, _rtc.Read(0, 1));   // index port is write-only
        Assert.Equal(0xFFFFu, _rtc.Read(1, 2));
        Assert.Equal(0xFFu, _rtc.Read(2, 1));
        var random = new Random(3);
        for (var i = 0; i < 20000; i++)
        {
            var offset = (ushort)random.Next(0, 3);
            var size = random.Next(0, 5);
            if (random.Next(2) == 0) _rtc.Read(offset, size);
            else _rtc.Write(offset, size, (uint)random.Next());
        }
    }

    [Fact]
    public void TheLastSecondOfYear9999IsFollowedByTheTwoDigitYearWrapping()
    {
        WriteCmos(CmosRtc.RegisterB, 0x82);     // SET, BCD, 24-hour
        byte[] last = [0x59, 0x59, 0x23, 0x06, 0x31, 0x12, 0x99, 0x99];
        byte[] indices = [0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32];
        for (var i = 0; i < indices.Length; i++)
            WriteCmos(indices[i], last[i]);
        WriteCmos(CmosRtc.RegisterB, 0x02);
        Assert.Equal(last, ReadTime());

        _clock.Advance(TimeSpan.FromSeconds(1));
        // Year 99 -> 00; the century byte is RAM and stays 99: the guest sees 9900-01-01 00:00:00 (a Monday).
        Assert.Equal(new byte[] { 0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x00, 0x99 }, ReadTime());
        Assert.Equal(0x10, ReadCmos(CmosRtc.RegisterC) & 0x10);
        ReadCmos(CmosRtc.RegisterA);

        // Years later the clock still runs inside the last century instead of throwing.
        _clock.Advance(TimeSpan.FromDays(365 * 250));
        Assert.Equal(0x99, ReadCmos(0x32));
        WriteCmos(CmosRtc.RegisterB, 0x82);     // freezing and committing the wrapped time works too
        WriteCmos(CmosRtc.RegisterB, 0x02);
        Assert.Equal(0x99, ReadCmos(0x32));
    }

    [Fact]
    public void TheFirstSecondOfYear1HoldsWhenTheHostClockStepsBack()
    {
        WriteCmos(CmosRtc.RegisterB, 0x82);
        byte[] first = [0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x01, 0x00];  // 0001-01-01 00:00:00, a Monday
        byte[] indices = [0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32];
        for (var i = 0; i < indices.Length; i++)
            WriteCmos(indices[i], first[i]);
        WriteCmos(CmosRtc.RegisterB, 0x02);
        _clock.Advance(TimeSpan.FromSeconds(-30));  // an NTP step or an administrator on the host
        Assert.Equal(first, ReadTime());
        ReadCmos(CmosRtc.RegisterC);
        ReadCmos(CmosRtc.RegisterA);
    }

    private static DateTime TruncateToSecond(DateTime t) =>
        new(t.Ticks - t.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Unspecified);
}
