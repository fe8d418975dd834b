namespace Vessel.Devices;

/// <summary>
/// Converts a date and time to and from the MC146818 time registers (0x00 seconds ... 0x09 year, 0x32 century)
/// in the format register B selects: BCD or binary (bit 2), 12- or 24-hour (bit 1; PM is hour bit 7).
/// </summary>
internal static class RtcTimeFields
{
    public const int Seconds = 0x00, Minutes = 0x02, Hours = 0x04, DayOfWeek = 0x06, DayOfMonth = 0x07,
        Month = 0x08, Year = 0x09, Century = 0x32;

    public const byte RegisterBHour24 = 0x02, RegisterBBinary = 0x04;

    private const byte HourPm = 0x80;

    public static bool IsTimeRegister(int index) =>
        index is Seconds or Minutes or Hours or DayOfWeek or DayOfMonth or Month or Year or Century;

    /// <summary>The value register <paramref name="index"/> shows for <paramref name="time"/>.</summary>
    public static byte Encode(int index, DateTime time, byte registerB) => index switch
    {
        Seconds => ToRegister(time.Second, registerB),
        Minutes => ToRegister(time.Minute, registerB),
        Hours => EncodeHour(time.Hour, registerB),
        DayOfWeek => ToRegister((int)time.DayOfWeek + 1, registerB),   // Sunday = 1
        DayOfMonth => ToRegister(time.Day, registerB),
        Month => ToRegister(time.Month, registerB),
        Year => ToRegister(time.Year % 100, registerB),
        Century => ToRegister(time.Year / 100, registerB),
        _ => 0,
    };

    /// <summary>Reads a date and time back from register values; false when they do not form a valid one.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> cmos, byte registerB, out DateTime time)
    {
        time = default;
        var second = FromRegister(cmos[Seconds], registerB);
        var minute = FromRegister(cmos[Minutes], registerB);
        var hour = DecodeHour(cmos[Hours], registerB);
        var day = FromRegister(cmos[DayOfMonth], registerB);
        var month = FromRegister(cmos[Month], registerB);
        var year = FromRegister(cmos[Century], registerB) * 100 + FromRegister(cmos[Year], registerB);
        if (second is < 0 or > 59 || minute is < 0 or > 59 || hour is < 0 or > 23 || month is < 1 or > 12
            || year is < 1 or > 9999 || day < 1 || day > DateTime.DaysInMonth(year, month))
            return false;
        time = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Unspecified);
        return true;
    }

    private static byte EncodeHour(int hour, byte registerB)
    {
        if ((registerB & RegisterBHour24) != 0)
            return ToRegister(hour, registerB);
        var hour12 = hour % 12 == 0 ? 12 : hour % 12;
        return (byte)(ToRegister(hour12, registerB) | (hour >= 12 ? HourPm : 0));
    }

    private static int DecodeHour(byte value, byte registerB)
    {
        if ((registerB & RegisterBHour24) != 0)
            return FromRegister(value, registerB);
        var hour12 = FromRegister((byte)(value & ~HourPm), registerB);
        if (hour12 is < 1 or > 12)
            return -1;
        return hour12 % 12 + ((value & HourPm) != 0 ? 12 : 0);
    }

    private static byte ToRegister(int value, byte registerB) =>
        (registerB & RegisterBBinary) != 0 ? (byte)value : (byte)((value / 10 << 4) | (value % 10));

    /// <summary>-1 for a BCD byte with a digit above 9.</summary>
    private static int FromRegister(byte value, byte registerB)
    {
        if ((registerB & RegisterBBinary) != 0)
            return value;
        int high = value >> 4, low = value & 0x0F;
        return high > 9 || low > 9 ? -1 : high * 10 + low;
    }
}
