namespace Vessel.Devices;

/// <summary>
/// MC146818 CMOS RTC at ports 0x70 (index; bit 7 disables NMI) and 0x71 (data), 128 bytes of CMOS.
/// The time registers follow an injectable clock plus an offset the guest sets: while register B's SET bit
/// is on, the time registers are frozen and writable; clearing SET makes the written time current.
/// Register C's update-ended flag is computed when read (a second boundary passed since the last read).
/// No interrupts are raised (IRQ 8 is not driven). Calls are serialised by the port bus.
/// </summary>
public sealed class CmosRtc : IPortDevice
{
    /// <summary>The index port (offset 0) and the data port (offset 1).</summary>
    public const int PortCount = 2;
    public const byte RegisterA = 0x0A, RegisterB = 0x0B, RegisterC = 0x0C, RegisterD = 0x0D;

    private const byte AUpdateInProgress = 0x80, ADividerMask = 0x70, ADividerNormal = 0x20;
    private const byte BSet = 0x80, BUpdateEndedInterruptEnable = 0x10, BInterruptEnables = 0x70;
    private const byte CInterruptRequest = 0x80, CUpdateEnded = 0x10;
    private const byte DValidRamAndTime = 0x80;
    private const byte RegisterADefault = 0x26;     // 32.768 kHz time base, 1024 Hz periodic rate
    private const byte RegisterBDefault = RtcTimeFields.RegisterBHour24;   // BCD, 24-hour, as a PC BIOS leaves it

    /// <summary>UIP rises this long before each update, which happens on the second boundary.</summary>
    private static readonly long UpdateInProgressTicks = TimeSpan.FromMicroseconds(244).Ticks;

    private static readonly int[] TimeRegisterIndices =
    [
        RtcTimeFields.Seconds, RtcTimeFields.Minutes, RtcTimeFields.Hours, RtcTimeFields.DayOfWeek,
        RtcTimeFields.DayOfMonth, RtcTimeFields.Month, RtcTimeFields.Year, RtcTimeFields.Century,
    ];

    private readonly byte[] _cmos = new byte[128];
    private readonly Func<DateTimeOffset> _clock;
    private TimeSpan _offset;                   // guest time = host clock (UTC) + offset, in whole seconds
    private byte _index;
    private long _secondAtLastRegisterCRead;

    /// <param name="ramBelow4G">Guest RAM from address 0 up to the 32-bit MMIO hole, in bytes.</param>
    /// <param name="ramAbove4G">Guest RAM mapped at 4 GiB and above, in bytes.</param>
    /// <param name="clock">Host time source; defaults to the wall clock.</param>
    public CmosRtc(ulong ramBelow4G, ulong ramAbove4G = 0, Func<DateTimeOffset>? clock = null)
    {
        _clock = clock ?? (() => DateTimeOffset.UtcNow);
        _cmos[RegisterA] = RegisterADefault;
        _cmos[RegisterB] = RegisterBDefault;
        CmosMemorySize.Store(_cmos, ramBelow4G, ramAbove4G);
        _secondAtLastRegisterCRead = WholeSeconds(GuestNow);
    }

    /// <summary>Bit 7 of the last index written: the guest masked NMIs.</summary>
    public bool NmiDisabled { get; private set; }

    /// <summary>The time the guest's clock shows now (ignoring a SET freeze). Past the last second of year 9999
    /// the clock goes on as the chip does: its two-digit year wraps from 99 to 00 and the century byte, plain CMOS
    /// RAM on a PC, is not carried, so 9999-12-31 23:59:59 is followed by 9900-01-01 00:00:00.</summary>
    public DateTime GuestNow
    {
        get
        {
            long ticks = _clock().UtcDateTime.Ticks + _offset.Ticks;
            if (ticks > DateTime.MaxValue.Ticks)
                ticks = LastCenturyStartTicks + (ticks - LastCenturyStartTicks) % LastCenturyTicks;
            else if (ticks < 0)
                ticks = 0;      // set to 0001-01-01 and the host's wall clock stepped back: hold at the first second
            return new DateTime(ticks, DateTimeKind.Utc);
        }
    }

    private static readonly long LastCenturyStartTicks = new DateTime(9900, 1, 1).Ticks;
    private static readonly long LastCenturyTicks = DateTime.MaxValue.Ticks + 1 - LastCenturyStartTicks;

    private bool SetMode => (_cmos[RegisterB] & BSet) != 0;

    public uint Read(ushort offset, int size)
    {
        if (size != 1 || offset != 1)
            return PortAccess.AllOnes(size);    // the index port is write-only
        return ReadRegister(_index);
    }

    public void Write(ushort offset, int size, uint value)
    {
        if (size != 1 || offset > 1)
            return;
        if (offset == 0)
        {
            _index = (byte)(value & 0x7F);
            NmiDisabled = (value & 0x80) != 0;
            return;
        }
        WriteRegister(_index, (byte)value);
    }

    private byte ReadRegister(int index)
    {
        if (RtcTimeFields.IsTimeRegister(index))
            return SetMode ? _cmos[index] : RtcTimeFields.Encode(index, GuestNow, _cmos[RegisterB]);
        return index switch
        {
            RegisterA => (byte)(_cmos[RegisterA] | (UpdateInProgress() ? AUpdateInProgress : 0)),
            RegisterC => ReadAndClearFlags(),
            RegisterD => DValidRamAndTime,
            _ => _cmos[index],
        };
    }

    private void WriteRegister(int index, byte value)
    {
        if (RtcTimeFields.IsTimeRegister(index))
        {
            if (SetMode)
            {
                _cmos[index] = value;
                return;
            }
            // Without SET the write lands on a running clock: change that one field of the current time.
            FreezeTimeRegisters();
            _cmos[index] = value;
            CommitTimeRegisters();
            return;
        }
        switch (index)
        {
            case RegisterA:
                _cmos[RegisterA] = (byte)(value & ~AUpdateInProgress);
                break;
            case RegisterB:
                WriteRegisterB(value);
                break;
            case RegisterC or RegisterD:
                break;                          // read-only
            default:
                _cmos[index] = value;
                break;
        }
    }

    private void WriteRegisterB(byte value)
    {
        var wasSet = SetMode;
        var set = (value & BSet) != 0;
        if (set)
            value = (byte)(value & ~BUpdateEndedInterruptEnable);   // SET clears UIE, per the MC146818
        if (set && !wasSet)
            FreezeTimeRegisters();
        _cmos[RegisterB] = value;
        if (wasSet && !set)
            CommitTimeRegisters();
    }

    private void FreezeTimeRegisters()
    {
        var now = GuestNow;
        foreach (var index in TimeRegisterIndices)
            _cmos[index] = RtcTimeFields.Encode(index, now, _cmos[RegisterB]);
    }

    /// <summary>Make the time in the registers current; an invalid time leaves the clock as it was.</summary>
    private void CommitTimeRegisters()
    {
        if (!RtcTimeFields.TryDecode(_cmos, _cmos[RegisterB], out var time))
            return;
        var host = _clock().UtcDateTime;
        var hostWholeSecond = new DateTime(host.Ticks - host.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
        _offset = time - hostWholeSecond;
    }

    private bool UpdateInProgress()
    {
        if (SetMode || (_cmos[RegisterA] & ADividerMask) != ADividerNormal)
            return false;
        var intoSecond = GuestNow.Ticks % TimeSpan.TicksPerSecond;
        return intoSecond >= TimeSpan.TicksPerSecond - UpdateInProgressTicks;
    }

    private byte ReadAndClearFlags()
    {
        byte flags = 0;
        var second = WholeSeconds(GuestNow);
        if (!SetMode && second != _secondAtLastRegisterCRead)
            flags |= CUpdateEnded;
        _secondAtLastRegisterCRead = second;
        if ((flags & _cmos[RegisterB] & BInterruptEnables) != 0)
            flags |= CInterruptRequest;
        return flags;
    }

    private static long WholeSeconds(DateTime time) => time.Ticks / TimeSpan.TicksPerSecond;
}
