using System.Numerics;

namespace Vessel.Cpu.Platform;

/// <summary>One vCPU's local APIC: xAPIC registers (MMIO) and x2APIC (MSRs), TPR/PPR and the 256-bit IRR/ISR/TMR
/// priority logic, EOI (broadcast to the I/O APIC for level-triggered vectors), the spurious-vector register, the
/// LVT, the timer (one-shot, periodic, TSC-deadline; it counts at <see cref="TimerHz"/> before the divider), and
/// the ICR with every delivery mode and destination form. Other threads post interrupts to it; its own vCPU reads
/// and acknowledges them. Thread-safe.</summary>
internal sealed class LocalApic : IInterruptController
{
    /// <summary>The timer's input clock (the bus clock): equal to the TSC, so a tick is a nanosecond.</summary>
    public const long TimerHz = GuestClock.TscHz;

    private const int Version = 0x0005_0014; // version 0x14, 6 LVT entries
    private const uint LvtMasked = 1 << 16;
    private const int LvtTimer = 0, LvtThermal = 1, LvtPerf = 2, LvtLint0 = 3, LvtLint1 = 4, LvtError = 5, LvtCmci = 6;

    private readonly IApicCpu _cpu;
    private readonly ApicBus _bus;
    private readonly GuestClock _clock;
    private readonly object _lock = new();
    private readonly uint[] _irr = new uint[8], _isr = new uint[8], _tmr = new uint[8];
    private readonly uint[] _lvt = new uint[7];
    private uint _tpr, _ldr, _dfr = 0xFFFF_FFFF, _svr = 0xFF, _esr, _icrLow, _icrHigh, _divide;
    private uint _timerInitial;
    private long _timerStart, _timerDeadline = long.MaxValue; // guest ns
    private ulong _tscDeadline;
    private volatile bool _pending, _nmiPending;

    public LocalApic(IApicCpu cpu, ApicBus bus, GuestClock clock)
    {
        _cpu = cpu;
        _bus = bus;
        _clock = clock;
        Reset();
    }

    public int Id => _cpu.VcpuId;
    public IApicCpu Cpu => _cpu;

    public void Reset()
    {
        lock (_lock)
        {
            Array.Clear(_irr); Array.Clear(_isr); Array.Clear(_tmr);
            for (int i = 0; i < _lvt.Length; i++) _lvt[i] = LvtMasked;
            // The BSP's LINT0 starts as unmasked ExtINT, as KVM's reset leaves it (LINT0_REENABLED quirk) and
            // QEMU's: the PIC reaches a real-mode guest without any APIC programming.
            if (Id == 0) _lvt[LvtLint0] = 0x700;
            _tpr = _ldr = _esr = _icrLow = _icrHigh = _divide = _timerInitial = 0;
            _dfr = 0xFFFF_FFFF;
            _svr = 0xFF;
            _timerDeadline = long.MaxValue;
            _tscDeadline = 0;
            _nmiPending = false;
            UpdatePending();
        }
    }

    private bool GloballyEnabled => (_cpu.ApicBase & (1UL << 11)) != 0;
    public bool X2ApicMode => (_cpu.ApicBase & (1UL << 10)) != 0;
    public bool MmioEnabled => GloballyEnabled && !X2ApicMode;
    public ulong MmioBase => _cpu.ApicBase & 0xF_FFFF_F000UL;
    private bool SoftwareEnabled => (_svr & 0x100) != 0;

    // ---------------------------------------------------------------- the CPU's side (IInterruptController)

    public bool HasPendingEvent => _pending;

    public bool TakeNmi()
    {
        if (!_nmiPending) return false;
        lock (_lock)
        {
            bool taken = _nmiPending;
            _nmiPending = false;
            UpdatePending();
            return taken;
        }
    }

    public int AcknowledgeInterrupt()
    {
        if (ExtIntActive() && _bus.Pic is { } pic && pic.InterruptRequested)
        {
            int vector = pic.Acknowledge();
            lock (_lock) UpdatePending();
            return vector;
        }
        lock (_lock)
        {
            int v = HighestBit(_irr);
            if (v < 0 || (v & 0xF0) <= (ProcessorPriority() & 0xF0))
            {
                UpdatePending();
                return -1;
            }
            Clear(_irr, v);
            Set(_isr, v);
            UpdatePending();
            return v;
        }
    }

    public long Poll(long nowTimestamp)
    {
        long nowNs = _clock.NowNanoseconds();
        long next;
        lock (_lock)
        {
            if (nowNs >= _timerDeadline) FireTimer(nowNs);
            next = _timerDeadline;
        }
        return next == long.MaxValue ? long.MaxValue : _clock.TimestampAt(next);
    }

    /// <summary>TPR as CR8 sees it (bits 7:4).</summary>
    public ulong TaskPriorityClass
    {
        get { lock (_lock) return _tpr >> 4; }
        set { lock (_lock) { _tpr = (uint)(value & 0xF) << 4; UpdatePending(); } }
    }

    // ---------------------------------------------------------------- from the bus

    /// <summary>Accepts a fixed or lowest-priority interrupt.</summary>
    public void Accept(int vector, bool levelTriggered)
    {
        lock (_lock)
        {
            if (!SoftwareEnabled || vector < 16)
            {
                _esr |= 1 << 6; // received illegal vector / dropped while disabled
                return;
            }
            Set(_irr, vector);
            if (levelTriggered) Set(_tmr, vector); else Clear(_tmr, vector);
            UpdatePending();
        }
        _cpu.Wake();
    }

    public void AcceptNmi()
    {
        _nmiPending = true;
        _pending = true;
        _cpu.Wake();
    }

    /// <summary>The PIC's output changed (LINT0 in virtual-wire mode).</summary>
    public void ExtIntChanged()
    {
        lock (_lock) UpdatePending();
        if (_pending) _cpu.Wake();
    }

    private bool ExtIntActive()
    {
        if (Id != 0) return false;
        if (!GloballyEnabled) return true; // the PIC's INTR goes straight to the processor
        uint lint0 = _lvt[LvtLint0];
        return (lint0 & LvtMasked) == 0 && ((lint0 >> 8) & 7) == 7 || !SoftwareEnabled && (lint0 & LvtMasked) == 0;
    }

    public bool MatchesPhysical(uint destination) =>
        X2ApicMode ? destination == 0xFFFF_FFFF || destination == (uint)Id : destination == 0xFF || destination == (uint)Id;

    public bool MatchesLogical(uint destination)
    {
        if (X2ApicMode)
        {
            if (destination == 0xFFFF_FFFF) return true;
            uint ldr = X2ApicLdr;
            return (destination >> 16) == (ldr >> 16) && (destination & ldr & 0xFFFF) != 0;
        }
        uint logical = _ldr >> 24;
        if (destination == 0xFF) return true;
        if ((_dfr >> 28) == 0xF) return (logical & destination) != 0; // flat
        return (destination >> 4) == (logical >> 4) && (destination & logical & 0xF) != 0; // cluster
    }

    private uint X2ApicLdr => (uint)((Id >> 4) << 16) | (1u << (Id & 0xF));

    public uint TaskPriority
    {
        get { lock (_lock) return _tpr; }
    }

    // ---------------------------------------------------------------- registers

    /// <summary>Reads the register at xAPIC offset <paramref name="offset"/> (16-byte aligned).</summary>
    public uint ReadRegister(int offset)
    {
        lock (_lock)
        {
            switch (offset)
            {
                case 0x20: return X2ApicMode ? (uint)Id : (uint)Id << 24;
                case 0x30: return Version;
                case 0x80: return _tpr;
                case 0x90: return 0;
                case 0xA0: return ProcessorPriority();
                case 0xD0: return X2ApicMode ? X2ApicLdr : _ldr;
                case 0xE0: return X2ApicMode ? 0 : _dfr;
                case 0xF0: return _svr;
                case >= 0x100 and < 0x180: return _isr[(offset - 0x100) >> 4];
                case >= 0x180 and < 0x200: return _tmr[(offset - 0x180) >> 4];
                case >= 0x200 and < 0x280: return _irr[(offset - 0x200) >> 4];
                case 0x280: return _esr;
                case 0x2F0: return _lvt[LvtCmci];
                case 0x300: return _icrLow & ~(1u << 12); // delivery is immediate: never "send pending"
                case 0x310: return _icrHigh;
                case >= 0x320 and <= 0x370: return _lvt[LvtIndex(offset)];
                case 0x380: return _timerInitial;
                case 0x390: return CurrentCount(_clock.NowNanoseconds());
                case 0x3E0: return _divide;
                default: return 0;
            }
        }
    }

    /// <summary>Writes the register at xAPIC offset <paramref name="offset"/>; false for a read-only or reserved one.</summary>
    public bool WriteRegister(int offset, uint value)
    {
        (uint low, uint high)? send = null;
        int levelEoi = -1;
        lock (_lock)
        {
            switch (offset)
            {
                case 0x20: if (X2ApicMode) return false; break; // the ID follows the vCPU; writes are ignored
                case 0x80: _tpr = value & 0xFF; UpdatePending(); break;
                case 0xB0: levelEoi = EndOfInterrupt(); break;
                case 0xD0: if (X2ApicMode) return false; _ldr = value & 0xFF00_0000; break;
                case 0xE0: if (X2ApicMode) return false; _dfr = value | 0x0FFF_FFFF; break;
                case 0xF0:
                    _svr = value & 0x13FF;
                    if (!SoftwareEnabled) for (int i = 0; i < _lvt.Length; i++) _lvt[i] |= LvtMasked;
                    UpdatePending();
                    break;
                case 0x280: _esr = 0; break;
                case 0x2F0: _lvt[LvtCmci] = value & 0x117FF; break;
                case 0x300:
                    _icrLow = value & 0xFFF_FFFF;
                    send = (_icrLow, _icrHigh);
                    break;
                case 0x310: if (X2ApicMode) return false; _icrHigh = value & 0xFF00_0000; break;
                case >= 0x320 and <= 0x370: WriteLvt(LvtIndex(offset), value); break;
                case 0x380: StartTimer(value); break;
                case 0x3E0: _divide = value & 0xB; RestartPeriodic(); break;
                case 0x3F0 when X2ApicMode: // SELF IPI
                    send = ((value & 0xFF) | (1u << 18), 0);
                    break;
                default: return !X2ApicMode; // xAPIC ignores writes to read-only registers; x2APIC refuses them (#GP)
            }
        }
        // Outside the lock: the broadcast may redeliver to another APIC, whose lock must not nest in ours.
        if (levelEoi >= 0) _bus.BroadcastEoi(levelEoi);
        if (send is var (lo, hi)) _bus.SendIpi(this, lo, X2ApicMode ? hi : hi >> 24);
        return true;
    }

    /// <summary>x2APIC ICR: one 64-bit write sends the IPI.</summary>
    public void WriteIcr64(ulong value)
    {
        lock (_lock)
        {
            _icrLow = (uint)value & 0xFFF_FFFF;
            _icrHigh = (uint)(value >> 32);
        }
        _bus.SendIpi(this, (uint)value, (uint)(value >> 32));
    }

    public ulong ReadIcr64()
    {
        lock (_lock) return ((ulong)_icrHigh << 32) | _icrLow;
    }

    private static int LvtIndex(int offset) => (offset - 0x320) >> 4;

    private void WriteLvt(int index, uint value)
    {
        uint mask = index switch
        {
            LvtTimer => 0x710FF,
            LvtLint0 or LvtLint1 => 0x1A7FF,
            LvtError => 0x100FF,
            _ => 0x107FF,
        };
        if (!SoftwareEnabled) value |= LvtMasked;
        uint old = _lvt[index];
        _lvt[index] = value & mask;
        if (index == LvtTimer && ((old ^ value) >> 17 & 3) != 0)
        {
            _timerDeadline = long.MaxValue; // a mode change disarms the timer
            _tscDeadline = 0;
            _timerInitial = 0;
        }
        UpdatePending();
    }

    /// <summary>Ends the highest in-service interrupt; returns its vector if it was level-triggered (the caller
    /// broadcasts that EOI to the I/O APIC once it has released the lock), else -1.</summary>
    private int EndOfInterrupt()
    {
        int v = HighestBit(_isr);
        if (v < 0) return -1;
        Clear(_isr, v);
        bool level = IsSet(_tmr, v);
        UpdatePending();
        return level ? v : -1;
    }

    private uint ProcessorPriority()
    {
        int isrv = HighestBit(_isr);
        uint isrClass = isrv < 0 ? 0 : (uint)isrv & 0xF0;
        return (_tpr & 0xF0) >= isrClass ? _tpr : isrClass;
    }

    /// <summary>Recomputes the cheap flag the CPU polls at every block boundary.</summary>
    private void UpdatePending()
    {
        bool pending = _nmiPending;
        if (!pending)
        {
            int v = HighestBit(_irr);
            pending = v >= 0 && (v & 0xF0) > (ProcessorPriority() & 0xF0);
        }
        if (!pending && ExtIntActive() && _bus.Pic is { } pic) pending = pic.InterruptRequested;
        _pending = pending;
    }

    // ---------------------------------------------------------------- timer

    private int TimerMode => (int)(_lvt[LvtTimer] >> 17) & 3; // 0 one-shot, 1 periodic, 2 TSC-deadline

    private long DivideBy
    {
        get
        {
            uint d = (_divide & 3) | ((_divide >> 1) & 4);
            return d == 7 ? 1 : 2L << (int)d;
        }
    }

    /// <summary>The initial count's span in ns: at most 2^32 x 128 ticks, about 550 s at 1 GHz. The product with
    /// 1e9 does not fit 64 bits (it wrapped, and a long one-shot fired at once), so it is formed in 128.</summary>
    private long PeriodNs => TicksToNanoseconds((ulong)_timerInitial * (ulong)DivideBy);

    private static long TicksToNanoseconds(ulong ticks) => (long)((UInt128)ticks * 1_000_000_000 / TimerHz);

    private static ulong NanosecondsToTicks(long ns) => (ulong)((UInt128)(ulong)ns * TimerHz / 1_000_000_000);

    private void StartTimer(uint count)
    {
        if (TimerMode == 2) return; // TSC-deadline mode ignores the initial count
        _timerInitial = count;
        _timerStart = _clock.NowNanoseconds();
        _timerDeadline = count == 0 ? long.MaxValue : _timerStart + PeriodNs;
        _cpu.RequestPoll();
    }

    private void RestartPeriodic()
    {
        if (_timerInitial == 0 || TimerMode == 2) return;
        _timerStart = _clock.NowNanoseconds();
        _timerDeadline = _timerStart + PeriodNs;
        _cpu.RequestPoll();
    }

    private uint CurrentCount(long nowNs)
    {
        if (_timerInitial == 0 || TimerMode == 2 || _timerDeadline == long.MaxValue) return 0;
        long remaining = _timerDeadline - nowNs;
        if (remaining <= 0) return 0;
        return (uint)Math.Min(_timerInitial, NanosecondsToTicks(remaining) / (ulong)DivideBy);
    }

    /// <summary>IA32_TSC_DEADLINE: fires when the vCPU's TSC reaches the value (0 disarms).</summary>
    public ulong TscDeadline
    {
        get { lock (_lock) return _tscDeadline; }
        set
        {
            lock (_lock)
            {
                if (TimerMode != 2) return;
                _tscDeadline = value;
                if (value == 0)
                {
                    _timerDeadline = long.MaxValue;
                    return;
                }
                long now = _clock.NowNanoseconds();
                ulong tsc = _cpu.ReadTsc();
                // Unsigned: a deadline 2^63 or more ahead is far future (it never fires), not past.
                ulong ahead = value <= tsc ? 0 : TicksToNanosecondsSaturated(value - tsc);
                _timerDeadline = ahead >= (ulong)(long.MaxValue - now) ? long.MaxValue : now + (long)ahead;
            }
            _cpu.RequestPoll();
        }
    }

    private static ulong TicksToNanosecondsSaturated(ulong ticks)
    {
        UInt128 ns = (UInt128)ticks * 1_000_000_000 / TimerHz;
        return ns > ulong.MaxValue ? ulong.MaxValue : (ulong)ns;
    }

    private void FireTimer(long nowNs)
    {
        uint lvt = _lvt[LvtTimer];
        switch (TimerMode)
        {
            case 1 when _timerInitial != 0:
            {
                long period = Math.Max(PeriodNs, 1000); // at most a million timer interrupts a second
                long missed = (nowNs - _timerDeadline) / period;
                _timerDeadline += (missed + 1) * period;
                break;
            }
            case 2:
                _tscDeadline = 0;
                _timerDeadline = long.MaxValue;
                break;
            default:
                _timerDeadline = long.MaxValue;
                break;
        }
        if ((lvt & LvtMasked) != 0 || !SoftwareEnabled) return;
        int vector = (int)(lvt & 0xFF);
        if (vector < 16) return;
        Set(_irr, vector);
        Clear(_tmr, vector);
        UpdatePending();
        if (_pending) _cpu.Wake();
    }

    // ---------------------------------------------------------------- 256-bit vectors

    private static void Set(uint[] bits, int v) => bits[v >> 5] |= 1u << (v & 31);
    private static void Clear(uint[] bits, int v) => bits[v >> 5] &= ~(1u << (v & 31));
    private static bool IsSet(uint[] bits, int v) => (bits[v >> 5] & (1u << (v & 31))) != 0;

    private static int HighestBit(uint[] bits)
    {
        for (int i = 7; i >= 0; i--)
            if (bits[i] != 0) return i * 32 + 31 - BitOperations.LeadingZeroCount(bits[i]);
        return -1;
    }
}
