namespace Vessel.Devices.Platform;

/// <summary>One 8254 counter, computed lazily from the PIT tick at which it was loaded (or triggered)
/// instead of ticking: the count and OUT at any instant follow from the mode and the elapsed ticks.</summary>
internal sealed class PitChannel
{
    public int Mode;           // 0-5
    public int Access = 3;     // 1 lobyte, 2 hibyte, 3 lobyte then hibyte
    public bool Bcd;
    public bool Gate;
    public bool NullCount = true;

    private int _reload;       // as written (0 = the maximum)
    private bool _loaded;      // a count has been written since the mode was set
    private bool _running;     // counting (gate and trigger allow it)
    private long _start;       // PIT tick at which counting started (d = now - _start)
    private long _pausedElapsed;

    private bool _writeHighNext, _readHighNext;
    private byte _writeLow;
    private bool _countLatched, _latchHighNext;
    private int _latchedCount;
    private bool _statusLatched;
    private byte _status;

    public PitChannel(bool gate) => Gate = gate;

    /// <summary>The count the counting element starts from: 0 means 65536 (binary) or 10000 (BCD).</summary>
    public int Period => _reload == 0 ? (Bcd ? 10000 : 65536) : (Bcd ? FromBcd(_reload) : _reload);

    public void SetMode(int mode, int access, bool bcd, long now)
    {
        Mode = mode > 5 ? mode - 4 : mode;
        Access = access;
        Bcd = bcd;
        _loaded = _running = false;
        _writeHighNext = _readHighNext = false;
        _countLatched = false;
        NullCount = true;
        _ = now;
    }

    public void WriteCount(byte value, long now)
    {
        switch (Access)
        {
            case 1: Load(value, now); break;
            case 2: Load(value << 8, now); break;
            default:
                if (!_writeHighNext)
                {
                    _writeLow = value;
                    _writeHighNext = true;
                    if (Mode == 0) _running = false; // mode 0: writing the first byte stops the count
                }
                else
                {
                    _writeHighNext = false;
                    Load(_writeLow | (value << 8), now);
                }
                break;
        }
    }

    private void Load(int value, long now)
    {
        _reload = value & 0xFFFF;
        NullCount = false;
        _loaded = true;
        if (Mode is 1 or 5) return; // waits for a gate trigger
        // Every other mode (re)starts from the new count at once (modes 2/3 would wait for the end of
        // the current period on real hardware; guests reprogram them only while stopped).
        _start = now;
        _pausedElapsed = 0;
        _running = Gate;
    }

    public void SetGate(bool gate, long now)
    {
        if (gate == Gate) return;
        Gate = gate;
        if (!_loaded) return;
        switch (Mode)
        {
            case 0 or 4:
                if (gate)
                {
                    _start = now - _pausedElapsed;
                    _running = true;
                }
                else
                {
                    _pausedElapsed = Elapsed(now);
                    _running = false;
                }
                break;
            case 2 or 3:
                _running = gate;
                _start = now;
                _pausedElapsed = 0;
                break;
            default: // 1, 5: a rising edge (re)triggers
                if (gate)
                {
                    _start = now;
                    _running = true;
                }
                break;
        }
    }

    private long Elapsed(long now) => _running ? now - _start : _pausedElapsed;

    /// <summary>Whether the counting element has started (the count is meaningful).</summary>
    private bool Started => _loaded && (_running || _pausedElapsed > 0 || Mode is 0 or 4);

    public int Count(long now)
    {
        if (!Started) return _reload;
        long d = Elapsed(now);
        int period = Period;
        long value = Mode switch
        {
            2 => period - d % period,
            3 => period - (2 * d) % period,
            _ => (period - d) % 65536,
        };
        if (value < 0) value += 65536;
        value &= 0xFFFF;
        return Bcd ? ToBcd((int)(value % 10000)) : (int)value;
    }

    public bool Output(long now)
    {
        if (!_loaded) return Mode != 0;
        if (Mode is 1 or 5 && !_running) return true;
        if (Mode is 2 or 3 && !Gate) return true;
        long d = Elapsed(now);
        int period = Period;
        return Mode switch
        {
            0 or 1 => d >= period,
            2 => period == 1 || d % period != period - 1,
            3 => d % period < (period + 1) / 2,
            _ => d != period,
        };
    }

    /// <summary>The first PIT tick after <paramref name="after"/> at which OUT rises; long.MaxValue if none.</summary>
    public long NextRisingEdge(long after)
    {
        if (!_loaded || !_running) return long.MaxValue;
        long d = after - _start;
        long period = Period;
        switch (Mode)
        {
            case 0 or 1:
                return d < period ? _start + period : long.MaxValue;
            case 2 or 3:
                return _start + (Math.Max(d, 0) / period + 1) * period;
            default:
                return d < period + 1 ? _start + period + 1 : long.MaxValue;
        }
    }

    public void Latch(long now)
    {
        if (_countLatched) return;
        _countLatched = true;
        _latchedCount = Count(now);
        _latchHighNext = false;
    }

    public void LatchStatus(long now)
    {
        if (_statusLatched) return;
        _statusLatched = true;
        _status = (byte)((Output(now) ? 0x80 : 0) | (NullCount ? 0x40 : 0) | (Access << 4) | (Mode << 1) | (Bcd ? 1 : 0));
    }

    public byte Read(long now)
    {
        if (_statusLatched)
        {
            _statusLatched = false;
            return _status;
        }
        if (_countLatched)
        {
            byte b = ReadByte(_latchedCount, ref _latchHighNext);
            if (Access != 3 || !_latchHighNext) _countLatched = false;
            return b;
        }
        return ReadByte(Count(now), ref _readHighNext);
    }

    private byte ReadByte(int count, ref bool highNext)
    {
        switch (Access)
        {
            case 1: return (byte)count;
            case 2: return (byte)(count >> 8);
            default:
                byte b = highNext ? (byte)(count >> 8) : (byte)count;
                highNext = !highNext;
                return b;
        }
    }

    private static int FromBcd(int v) =>
        (v & 0xF) + ((v >> 4) & 0xF) * 10 + ((v >> 8) & 0xF) * 100 + ((v >> 12) & 0xF) * 1000;

    private static int ToBcd(int v) =>
        (v % 10) | ((v / 10 % 10) << 4) | ((v / 100 % 10) << 8) | ((v / 1000 % 10) << 12);
}
