namespace Vessel.Devices.Platform;

/// <summary>The 8254 programmable interval timer and the PIT side of system control port B. Two port windows go on
/// the port bus: <see cref="CounterPorts"/> (channels 0-2 at offsets 0-2, the mode/command register at 3) and
/// <see cref="PortBPort"/> (one byte: channel 2's gate in bit 0, its output in bit 5). Counting follows guest time
/// at 1.193182 MHz, computed from the nanosecond clock when read, so the counter neither drifts nor needs a thread.
/// Channel 0's output drives IRQ 0 through <see cref="Poll"/>. Thread-safe.</summary>
public sealed class Pit8254
{
    public const int CounterPortsLength = 4, PortBLength = 1;
    public const long FrequencyHz = 1_193_182;

    // The registers as the two windows reach them: channels 0-2, the command register, port B.
    private const int Command = 3, PortB = 4;

    private readonly Func<long> _nowNanoseconds;
    private readonly Action<bool> _irq0;

    // Channel 2's gate is port 0x61 bit 0, low after reset; channels 0 and 1 are always gated on.
    private readonly Channel[] _channels = [new(gate: true), new(gate: true), new(gate: false)];
    private readonly object _lock = new();
    private byte _portB;
    private int _refresh;
    private long _lastIrqPeriod = -1;

    public Pit8254(Func<long> nowNanoseconds, Action<bool> irq0)
    {
        _nowNanoseconds = nowNanoseconds;
        _irq0 = irq0;
        CounterPorts = new Window(this, 0, CounterPortsLength);
        PortBPort = new Window(this, PortB, PortBLength);
    }

    /// <summary>Channels 0-2 (offsets 0-2) and the mode/command register (offset 3).</summary>
    public IPortDevice CounterPorts { get; }

    /// <summary>System control port B, the PIT's bits of it.</summary>
    public IPortDevice PortBPort { get; }

    /// <summary>Raised (outside the lock) after a write to a counter or the command register: whoever polls
    /// <see cref="Poll"/> may want to re-plan its sleep.</summary>
    public event Action? Reprogrammed;

    private long Ticks(long ns) => (long)((Int128)ns * FrequencyHz / 1_000_000_000);
    private long Nanoseconds(long ticks) => (long)((Int128)ticks * 1_000_000_000 / FrequencyHz);

    private byte Read(int register)
    {
        lock (_lock)
        {
            long now = Ticks(_nowNanoseconds());
            if (register == PortB)
            {
                _refresh ^= 1; // bit 4 toggles: some code waits for it
                return (byte)((_portB & 0x0F) | (_refresh << 4) | (_channels[2].Output(now) ? 0x20 : 0));
            }
            if (register > 2) return 0xFF;
            return _channels[register].Read(now);
        }
    }

    private void Write(int register, byte value)
    {
        if (register == PortB)
        {
            lock (_lock)
            {
                _portB = (byte)(value & 0x0F);
                _channels[2].SetGate((value & 1) != 0, Ticks(_nowNanoseconds()));
            }
            return;
        }
        WriteTimer(register, value);
        Reprogrammed?.Invoke();
    }

    private void WriteTimer(int register, byte value)
    {
        lock (_lock)
        {
            long now = Ticks(_nowNanoseconds());
            if (register == Command)
            {
                int select = value >> 6;
                if (select == 3)
                {
                    // Read-back: bit 5 clear latches counts, bit 4 clear latches status, for channels in bits 1-3.
                    for (int c = 0; c < 3; c++)
                    {
                        if ((value & (2 << c)) == 0) continue;
                        if ((value & 0x20) == 0) _channels[c].LatchCount(now);
                        if ((value & 0x10) == 0) _channels[c].LatchStatus(now);
                    }
                    return;
                }
                _channels[select].Control(value, now);
                if (select == 0) _lastIrqPeriod = -1;
                return;
            }
            _channels[register].WriteCount(value, now);
            if (register == 0) _lastIrqPeriod = -1;
        }
    }

    /// <summary>Raises IRQ 0 for each rising edge of channel 0's output since the last call (several missed ones
    /// coalesce into one, as a late timer interrupt would); returns the guest time in ns of the next edge, or
    /// long.MaxValue.</summary>
    public long Poll()
    {
        bool raise = false;
        long next;
        lock (_lock)
        {
            long now = Ticks(_nowNanoseconds());
            var c = _channels[0];
            long edge = c.LastRisingEdge(now, out long nextEdge);
            if (edge >= 0 && edge != _lastIrqPeriod)
            {
                _lastIrqPeriod = edge;
                raise = true;
            }
            next = nextEdge == long.MaxValue ? long.MaxValue : Nanoseconds(nextEdge) + 1;
        }
        if (raise)
        {
            _irq0(true);
            _irq0(false);
        }
        return next;
    }

    /// <summary>Consecutive registers as a port device; every access moves one byte, as on the ISA bus. The PIT
    /// locks itself, so the bus needs no gate.</summary>
    private sealed class Window(Pit8254 pit, int first, int length) : IPortDevice, IConcurrentDevice
    {
        public uint Read(ushort offset, int size) => offset < length ? pit.Read(first + offset) : PortAccess.AllOnes(size);

        public void Write(ushort offset, int size, uint value)
        {
            if (offset < length) pit.Write(first + offset, (byte)value);
        }
    }

    private sealed class Channel(bool gate)
    {
        private int _mode, _access = 3, _reload = 0x10000;
        private bool _bcd, _gate = gate, _counting, _writeLow = true, _readLow = true;
        private long _start;
        /// <summary>Modes 0 and 4 stop counting while the gate is low: the ticks counted before it fell.</summary>
        private long _pausedElapsed;
        private int _pendingLow;
        private int? _latchedCount;
        private bool _latchedHigh;
        private byte? _status;

        private int Period => _reload == 0 ? (_bcd ? 10000 : 0x10000) : _reload;

        public void Control(byte value, long now)
        {
            int access = (value >> 4) & 3;
            if (access == 0)
            {
                LatchCount(now);
                return;
            }
            _access = access;
            _mode = (value >> 1) & 7;
            if (_mode > 5) _mode -= 4; // 6 and 7 alias 2 and 3
            _bcd = (value & 1) != 0;
            _counting = false;
            _writeLow = _readLow = true;
            _latchedCount = null;
            _status = null;
        }

        public void WriteCount(byte value, long now)
        {
            switch (_access)
            {
                case 1: Load(value, now); break;
                case 2: Load(value << 8, now); break;
                default:
                    if (_writeLow)
                    {
                        _pendingLow = value;
                        _writeLow = false;
                    }
                    else
                    {
                        Load(_pendingLow | (value << 8), now);
                        _writeLow = true;
                    }
                    break;
            }
        }

        private void Load(int count, long now)
        {
            _reload = _bcd ? FromBcd(count) : count;
            _start = now;
            _pausedElapsed = 0;
            // Modes 1 and 5 wait for a gate edge; the others start counting now (if the gate is high).
            _counting = _mode is not (1 or 5);
        }

        private static int FromBcd(int v) =>
            (v & 0xF) + ((v >> 4) & 0xF) * 10 + ((v >> 8) & 0xF) * 100 + ((v >> 12) & 0xF) * 1000;

        private static int ToBcd(int v) =>
            (v % 10) | ((v / 10 % 10) << 4) | ((v / 100 % 10) << 8) | ((v / 1000 % 10) << 12);

        public void SetGate(bool gate, long now)
        {
            if (gate && !_gate)
            {
                // A rising gate (re)starts modes 1, 2, 3 and 5 and resumes modes 0 and 4.
                if (_mode is 1 or 2 or 3 or 5)
                {
                    _start = now;
                    _counting = true;
                }
                else _start = now - _pausedElapsed;
            }
            else if (!gate && _gate && _counting && _mode is 0 or 2 or 3 or 4)
            {
                _frozen = CountAt(now);
                _pausedElapsed = now - _start;
            }
            _gate = gate;
        }

        private int _frozen;

        private long Elapsed(long now) => !_gate && _mode is 0 or 4 ? _pausedElapsed : now - _start;

        private int CountAt(long now)
        {
            if (!_counting) return _reload & 0xFFFF;
            if (!_gate && _mode is 2 or 3) return _frozen;
            long t = Elapsed(now);
            int n = Period;
            switch (_mode)
            {
                case 2:
                    return (int)(n - t % n);
                case 3:
                {
                    long phase = t % n;
                    long half = (n + 1) / 2;
                    long c = phase < half ? n - 2 * phase : n - 2 * (phase - half);
                    return (int)Math.Max(c, 2) & 0xFFFF;
                }
                default:
                    return (int)((n - t) & 0xFFFF);
            }
        }

        public bool Output(long now)
        {
            if (!_counting) return _mode != 0;
            if (!_gate && _mode is 2 or 3) return true; // a low gate holds OUT high in the periodic modes
            long t = Elapsed(now);
            int n = Period;
            return _mode switch
            {
                0 => t >= n,
                1 => t >= n,
                2 => t % n != n - 1,
                3 => t % n < (n + 1) / 2,
                _ => t != n, // 4, 5: one-tick low strobe at terminal count
            };
        }

        /// <summary>The index of the latest rising edge of the output at or before <paramref name="now"/> (-1 if
        /// none yet) and the tick of the next one.</summary>
        public long LastRisingEdge(long now, out long nextEdge)
        {
            nextEdge = long.MaxValue;
            if (!_counting || !_gate) return -1;
            long t = Elapsed(now);
            int n = Period;
            switch (_mode)
            {
                case 0:
                    if (t >= n) return 0;
                    nextEdge = _start + n;
                    return -1;
                case 2:
                case 3:
                {
                    // Periodic: an edge at the end of every period.
                    long period = t / n;
                    nextEdge = _start + (period + 1) * n;
                    return period == 0 ? -1 : period;
                }
                case 4:
                    // Software strobe (Linux's one-shot PIT clockevent): OUT rises one tick after terminal count.
                    if (t >= n + 1) return 0;
                    nextEdge = _start + n + 1;
                    return -1;
                default:
                    return -1;
            }
        }

        public void LatchCount(long now)
        {
            if (_latchedCount is not null) return; // a second latch before reading is ignored
            int count = CountAt(now);
            _latchedCount = _bcd ? ToBcd(count % 10000) : count;
            _latchedHigh = false;
        }

        public void LatchStatus(long now)
        {
            if (_status is not null) return;
            _status = (byte)((Output(now) ? 0x80 : 0) | (_counting ? 0 : 0x40) | (_access << 4) | (_mode << 1) | (_bcd ? 1 : 0));
        }

        public byte Read(long now)
        {
            if (_status is byte status)
            {
                _status = null;
                return status;
            }
            int count;
            if (_latchedCount is int latched)
            {
                count = latched;
                if (_access == 3 && !_latchedHigh)
                {
                    _latchedHigh = true;
                    return (byte)count;
                }
                _latchedCount = null;
                return _access == 1 ? (byte)count : (byte)(count >> 8);
            }
            count = CountAt(now);
            if (_bcd) count = ToBcd(count % 10000);
            switch (_access)
            {
                case 1: return (byte)count;
                case 2: return (byte)(count >> 8);
                default:
                    bool low = _readLow;
                    _readLow = !_readLow;
                    return low ? (byte)count : (byte)(count >> 8);
            }
        }
    }
}
