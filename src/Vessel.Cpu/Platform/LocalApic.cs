using Vessel.Devices.Platform;

namespace Vessel.Cpu.Platform;

/// <summary>One vCPU's local APIC: xAPIC registers (MMIO page at APIC_BASE) and the same registers as
/// x2APIC MSRs, the 256-bit IRR/ISR/TMR with TPR/PPR priority, EOI (broadcast to the IOAPIC for
/// level-triggered vectors), the LVT, the timer (one-shot, periodic, TSC-deadline) and the ICR.
/// Other threads deliver into it (IPIs, IOAPIC, MSI), so state changes take <see cref="_lock"/>; the CPU
/// reads <see cref="HasPendingEvent"/> without it. Never calls the bus or the PIC while holding the lock.</summary>
internal sealed class LocalApic : IInterruptController
{
    /// <summary>Timer input clock: the 25 MHz core crystal CPUID leaf 0x15 advertises (Linux sets its
    /// APIC timer period from it), so one timer tick is 40 ns before the divider.</summary>
    public const long TimerNanosecondsPerTick = 40;
    public const uint VersionRegister = 0x0005_0014; // version 0x14, max LVT entry 5

    private const uint LvtMasked = 1 << 16;
    private const int LvtTimer = 0, LvtThermal = 1, LvtPerf = 2, LvtLint0 = 3, LvtLint1 = 4, LvtError = 5;

    private readonly ILocalApicHost _host;
    private readonly ApicBus _bus;
    private readonly IGuestTimeBase _time;
    private readonly IExtIntSource? _extInt;
    private readonly object _lock = new();

    private readonly uint[] _irr = new uint[8], _isr = new uint[8], _tmr = new uint[8];
    private readonly uint[] _lvt = new uint[6];
    private uint _tpr, _ldr, _dfr, _svr, _esr, _pendingEsr, _icrHigh, _icrLow;
    private uint _timerInitial, _timerDivideConfig;
    private long _timerStart, _timerPeriodNs, _timerDeadline = long.MaxValue;
    private ulong _tscDeadline;

    private volatile bool _eventPending;
    private bool _nmiPending, _extIntMessage;
    private volatile bool _picOutput;

    public LocalApic(ILocalApicHost host, ApicBus bus, IGuestTimeBase time, IExtIntSource? extInt)
    {
        _host = host;
        _bus = bus;
        _time = time;
        _extInt = extInt;
        Id = (uint)host.VcpuId;
        Reset();
    }

    public uint Id { get; }

    public bool HardwareEnabled => (_host.ApicBase & (1UL << 11)) != 0;
    public bool X2ApicMode => HardwareEnabled && (_host.ApicBase & (1UL << 10)) != 0;
    public ulong MmioBase => _host.ApicBase & 0xF_FFFF_F000;
    private bool SoftwareEnabled => (_svr & 0x100) != 0;

    /// <summary>The state after RESET or INIT (the ID and APIC_BASE survive). LINT0 of the BSP starts in
    /// ExtINT, as firmware leaves it, so the PIC reaches the BSP in virtual-wire mode.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            Array.Clear(_irr); Array.Clear(_isr); Array.Clear(_tmr);
            for (int i = 0; i < _lvt.Length; i++) _lvt[i] = LvtMasked;
            if ((_host.ApicBase & (1UL << 8)) != 0) _lvt[LvtLint0] = 0x700;
            _tpr = _ldr = _esr = _pendingEsr = _icrHigh = _icrLow = 0;
            _dfr = 0xFFFF_FFFF;
            _svr = 0xFF;
            _timerInitial = _timerDivideConfig = 0;
            _timerDeadline = long.MaxValue;
            _tscDeadline = 0;
            _nmiPending = _extIntMessage = false;
            UpdatePending();
        }
    }

    // ------------------------------------------------------------------ the CPU side

    public bool HasPendingEvent => _eventPending;

    public bool NmiPending { get { lock (_lock) return _nmiPending; } }

    public bool TakeNmi()
    {
        lock (_lock)
        {
            if (!_nmiPending) return false;
            _nmiPending = false;
            UpdatePending();
            return true;
        }
    }

    public int AcknowledgeInterrupt()
    {
        bool fromPic;
        lock (_lock)
        {
            fromPic = _extIntMessage || (_picOutput && AcceptsPicInterrupt);
            if (!fromPic)
            {
                int vector = DeliverableVector();
                if (vector < 0) return -1;
                Clear(_irr, vector);
                Set(_isr, vector);
                UpdatePending();
                return vector;
            }
            _extIntMessage = false;
        }
        int picVector = _extInt?.AcknowledgeExtInt() ?? -1;
        lock (_lock) UpdatePending();
        return picVector;
    }

    public long Poll(long nowTimestamp)
    {
        long now = _time.NanosecondsAt(nowTimestamp);
        lock (_lock)
        {
            if (now >= _timerDeadline) TimerExpired(now);
            return _timerDeadline == long.MaxValue ? long.MaxValue : _time.TimestampAt(_timerDeadline);
        }
    }

    /// <summary>Whether the PIC's INTR reaches this CPU through LINT0: the APIC is hardware-disabled, or
    /// LINT0 is unmasked in ExtINT mode (virtual wire).</summary>
    private bool AcceptsPicInterrupt =>
        !HardwareEnabled || (_lvt[LvtLint0] & (LvtMasked | 0x700)) == 0x700;

    /// <summary>The PIC's INTR output changed (called by the platform).</summary>
    public void SetPicOutput(bool level)
    {
        _picOutput = level;
        lock (_lock) UpdatePending();
        if (level) _host.Wake();
    }

    private int Ppr()
    {
        int isrv = Math.Max(Highest(_isr), 0);
        return (_tpr & 0xF0) >= (isrv & 0xF0) ? (int)_tpr : isrv & 0xF0;
    }

    private int DeliverableVector()
    {
        int vector = Highest(_irr);
        if (vector < 0 || (vector & 0xF0) <= (Ppr() & 0xF0)) return -1;
        return vector;
    }

    private void UpdatePending()
    {
        _eventPending = _nmiPending || _extIntMessage || (_picOutput && AcceptsPicInterrupt) || DeliverableVector() >= 0;
    }

    // ------------------------------------------------------------------ the bus side

    /// <summary>Accepts an interrupt message addressed to this APIC.</summary>
    public void Accept(in InterruptMessage message)
    {
        switch (message.Mode)
        {
            case DeliveryMode.Fixed or DeliveryMode.LowestPriority:
                lock (_lock)
                {
                    if (!SoftwareEnabled) return;
                    if (message.Vector < 16)
                    {
                        ReportError(0x40); // received illegal vector
                        break;
                    }
                    Set(_irr, message.Vector);
                    if (message.LevelTriggered) Set(_tmr, message.Vector); else Clear(_tmr, message.Vector);
                    UpdatePending();
                }
                break;
            case DeliveryMode.Nmi:
                lock (_lock)
                {
                    _nmiPending = true;
                    UpdatePending();
                }
                break;
            case DeliveryMode.ExtInt:
                lock (_lock)
                {
                    _extIntMessage = true;
                    UpdatePending();
                }
                break;
            case DeliveryMode.Init:
                Reset();
                _host.SignalInit();
                return;
            case DeliveryMode.StartUp:
                _host.SignalSipi(message.Vector);
                return;
            default:
                return; // SMI: none
        }
        if (_eventPending) _host.Wake();
    }

    /// <summary>Records an error for the next ESR write to latch and raises the LVT error interrupt.</summary>
    private void ReportError(uint bits)
    {
        _pendingEsr |= bits;
        RaiseLvt(LvtError);
    }

    /// <summary>Raises an LVT entry's interrupt (timer, LINT1, error) unless masked.</summary>
    private void RaiseLvt(int index)
    {
        uint lvt = _lvt[index];
        if ((lvt & LvtMasked) != 0 || !SoftwareEnabled) return;
        switch ((lvt >> 8) & 7)
        {
            case 4: _nmiPending = true; break;
            case 0:
                int vector = (int)(lvt & 0xFF);
                if (vector < 16)
                {
                    if (index != LvtError) _pendingEsr |= 0x40;
                    return;
                }
                Set(_irr, vector);
                Clear(_tmr, vector);
                break;
        }
        UpdatePending();
        if (_eventPending) _host.Wake();
    }

    /// <summary>Whether this APIC matches a logical destination (flat or cluster model, or x2APIC cluster).</summary>
    public bool MatchesLogical(uint destination)
    {
        if (X2ApicMode)
        {
            uint ldr = X2ApicLdr;
            return (destination >> 16) == (ldr >> 16) && (destination & ldr & 0xFFFF) != 0;
        }
        uint logical = _ldr >> 24;
        if ((_dfr >> 28) == 0xF) return (destination & logical) != 0;
        return (destination >> 4) == (logical >> 4) && (destination & logical & 0xF) != 0;
    }

    public bool MatchesPhysical(uint destination) =>
        X2ApicMode ? destination == 0xFFFF_FFFF || destination == Id : destination == 0xFF || destination == (Id & 0xFF);

    public int ArbitrationPriority { get { lock (_lock) return (int)_tpr; } }

    private uint X2ApicLdr => ((Id >> 4) << 16) | (1u << (int)(Id & 0xF));

    // ------------------------------------------------------------------ registers

    /// <summary>Reads the register at xAPIC offset <paramref name="offset"/> (16-byte aligned).</summary>
    public uint ReadRegister(uint offset)
    {
        lock (_lock)
        {
            switch (offset)
            {
                case 0x20: return X2ApicMode ? Id : Id << 24;
                case 0x30: return VersionRegister;
                case 0x80: return _tpr;
                case 0x90: return 0;
                case 0xA0: return (uint)Ppr();
                case 0xD0: return X2ApicMode ? X2ApicLdr : _ldr;
                case 0xE0: return _dfr;
                case 0xF0: return _svr;
                case >= 0x100 and < 0x180: return _isr[(offset - 0x100) >> 4];
                case >= 0x180 and < 0x200: return _tmr[(offset - 0x180) >> 4];
                case >= 0x200 and < 0x280: return _irr[(offset - 0x200) >> 4];
                case 0x280: return _esr;
                case 0x300: return _icrLow;
                case 0x310: return _icrHigh;
                case >= 0x320 and <= 0x370: return _lvt[(offset - 0x320) >> 4];
                case 0x380: return _timerInitial;
                case 0x390: return CurrentCount(_time.NowNanoseconds());
                case 0x3E0: return _timerDivideConfig;
                default: return 0;
            }
        }
    }

    /// <summary>Writes the register at xAPIC offset <paramref name="offset"/>.</summary>
    public void WriteRegister(uint offset, uint value)
    {
        int eoiVector = -1;
        bool sendIpi = false;
        lock (_lock)
        {
            switch (offset)
            {
                case 0x20: break; // the ID is fixed per vCPU
                case 0x80: _tpr = value & 0xFF; break;
                case 0xB0: eoiVector = EndOfInterrupt(); break;
                case 0xD0: if (!X2ApicMode) _ldr = value & 0xFF00_0000; break;
                case 0xE0: if (!X2ApicMode) _dfr = value | 0x0FFF_FFFF; break;
                case 0xF0:
                    _svr = value & 0x11FF;
                    if (!SoftwareEnabled)
                        for (int i = 0; i < _lvt.Length; i++) _lvt[i] |= LvtMasked;
                    break;
                case 0x280: _esr = _pendingEsr; _pendingEsr = 0; break;
                case 0x300: _icrLow = value & ~(1u << 12); sendIpi = true; break;
                case 0x310: _icrHigh = value & 0xFF00_0000; break;
                case >= 0x320 and <= 0x370: WriteLvt((int)(offset - 0x320) >> 4, value); break;
                case 0x380: WriteInitialCount(value); break;
                case 0x3E0: _timerDivideConfig = value & 0xB; StartTimer(); break;
                case 0x3F0: // SELF IPI (x2APIC)
                    Set(_irr, (int)(value & 0xFF));
                    Clear(_tmr, (int)(value & 0xFF));
                    break;
            }
            UpdatePending();
        }
        if (eoiVector >= 0) _bus.EndOfInterrupt(eoiVector);
        if (sendIpi) SendIpi(_icrLow, _icrHigh);
    }

    private void WriteLvt(int index, uint value)
    {
        uint writable = index switch
        {
            LvtTimer => 0x700FF | (3u << 17) | LvtMasked,
            LvtLint0 or LvtLint1 => 0x1A7FF | LvtMasked,
            LvtError => 0xFF | LvtMasked,
            _ => 0x7FF | LvtMasked,
        };
        uint old = _lvt[index];
        value &= writable;
        if (index == LvtTimer) value &= ~0x700u; // the timer is always fixed delivery
        if (!SoftwareEnabled) value |= LvtMasked;
        _lvt[index] = value;
        if (index == LvtTimer && ((old ^ value) & (3u << 17)) != 0)
        {
            // Switching between one-shot/periodic and TSC-deadline disarms the timer.
            _timerDeadline = long.MaxValue;
            _tscDeadline = 0;
            _timerInitial = 0;
            _host.RequestTimerPoll();
        }
    }

    private int EndOfInterrupt()
    {
        int vector = Highest(_isr);
        if (vector < 0) return -1;
        Clear(_isr, vector);
        if (!IsSet(_tmr, vector) || (_svr & 0x1000) != 0) return -1;
        Clear(_tmr, vector);
        return vector;
    }

    // ------------------------------------------------------------------ the timer

    private int TimerMode => (int)(_lvt[LvtTimer] >> 17) & 3;

    private long TickNs
    {
        get
        {
            uint index = (_timerDivideConfig & 3) | ((_timerDivideConfig >> 1) & 4);
            return TimerNanosecondsPerTick << (int)((index + 1) & 7);
        }
    }

    private void WriteInitialCount(uint value)
    {
        if (TimerMode == 2) return; // ignored in TSC-deadline mode
        _timerInitial = value;
        StartTimer();
    }

    private void StartTimer()
    {
        if (TimerMode == 2) return;
        _timerPeriodNs = _timerInitial * TickNs;
        _timerStart = _time.NowNanoseconds();
        _timerDeadline = _timerInitial == 0 ? long.MaxValue : _timerStart + _timerPeriodNs;
        _host.RequestTimerPoll();
    }

    private uint CurrentCount(long now)
    {
        if (TimerMode == 2 || _timerInitial == 0 || _timerDeadline == long.MaxValue) return 0;
        long elapsed = now - _timerStart;
        if (TimerMode == 0 && elapsed >= _timerPeriodNs) return 0;
        elapsed %= _timerPeriodNs;
        return (uint)(_timerInitial - elapsed / TickNs);
    }

    public ulong ReadTscDeadline()
    {
        lock (_lock) return TimerMode == 2 ? _tscDeadline : 0;
    }

    public void WriteTscDeadline(ulong value)
    {
        lock (_lock)
        {
            if (TimerMode != 2) return;
            _tscDeadline = value;
            if (value == 0) _timerDeadline = long.MaxValue;
            else
            {
                long now = _time.NowNanoseconds();
                long delta = (long)(value - _host.ReadTsc());
                _timerDeadline = delta <= 0 ? now : now + delta;
            }
            _host.RequestTimerPoll();
        }
    }

    private void TimerExpired(long now)
    {
        RaiseLvt(LvtTimer);
        if (TimerMode == 1 && _timerPeriodNs > 0)
        {
            long periods = (now - _timerStart) / _timerPeriodNs;
            _timerStart += periods * _timerPeriodNs;
            _timerDeadline = _timerStart + _timerPeriodNs;
        }
        else
        {
            _timerDeadline = long.MaxValue;
            if (TimerMode == 2) _tscDeadline = 0;
        }
    }

    // ------------------------------------------------------------------ x2APIC MSRs and the ICR

    public bool TryReadMsr(uint index, out ulong value)
    {
        value = 0;
        uint offset = (index - 0x800) << 4;
        if (!X2ApicMode || offset is 0xB0 or 0xE0 or 0x3F0 or 0x310 || !IsRegister(offset)) return false;
        if (offset == 0x300)
        {
            lock (_lock) value = ((ulong)_icrHigh << 32) | _icrLow;
            return true;
        }
        value = ReadRegister(offset);
        return true;
    }

    public bool TryWriteMsr(uint index, ulong value)
    {
        uint offset = (index - 0x800) << 4;
        if (!X2ApicMode || !IsRegister(offset)) return false;
        switch (offset)
        {
            case 0x20 or 0x30 or 0xA0 or 0xD0 or 0xE0 or 0x310 or 0x390
                or (>= 0x100 and < 0x280): return false; // read-only (or absent) in x2APIC mode
            case 0xB0 or 0x280 when value != 0: return false;
            case 0x300:
                uint low = (uint)value & ~(1u << 12), high = (uint)(value >> 32);
                lock (_lock) { _icrLow = low; _icrHigh = high; }
                SendIpi(low, high);
                return true;
        }
        if ((value >> 32) != 0) return false;
        WriteRegister(offset, (uint)value);
        return true;
    }

    private static bool IsRegister(uint offset) => offset is 0x20 or 0x30 or 0x80 or 0xA0 or 0xB0 or 0xD0 or 0xE0 or 0xF0
        or (>= 0x100 and < 0x290) or (>= 0x300 and <= 0x390) or 0x3E0 or 0x3F0;

    private void SendIpi(uint low, uint high)
    {
        var mode = (DeliveryMode)((low >> 8) & 7);
        bool levelAssert = (low & (1 << 14)) != 0, levelTriggered = (low & (1 << 15)) != 0;
        if (mode == DeliveryMode.Init && levelTriggered && !levelAssert) return; // INIT level de-assert
        int shorthand = (int)(low >> 18) & 3;
        if (mode is DeliveryMode.Fixed or DeliveryMode.LowestPriority && (low & 0xFF) < 16)
        {
            lock (_lock)
            {
                ReportError(0x20); // send illegal vector
                UpdatePending();
            }
            if (_eventPending) _host.Wake();
            return;
        }
        uint destination = X2ApicMode ? high : high >> 24;
        var message = new InterruptMessage((byte)low, mode, (low & (1 << 11)) != 0, destination, levelTriggered && mode == DeliveryMode.Fixed);
        _bus.SendIpi(this, message, shorthand);
    }

    // ------------------------------------------------------------------ 256-bit registers

    private static void Set(uint[] bits, int vector) => bits[vector >> 5] |= 1u << (vector & 31);
    private static void Clear(uint[] bits, int vector) => bits[vector >> 5] &= ~(1u << (vector & 31));
    private static bool IsSet(uint[] bits, int vector) => (bits[vector >> 5] & (1u << (vector & 31))) != 0;

    private static int Highest(uint[] bits)
    {
        for (int i = 7; i >= 0; i--)
            if (bits[i] != 0) return i * 32 + 31 - System.Numerics.BitOperations.LeadingZeroCount(bits[i]);
        return -1;
    }
}
