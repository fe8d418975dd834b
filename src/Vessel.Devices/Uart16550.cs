namespace Vessel.Devices;

/// <summary>
/// A 16550A UART on eight ports (offsets 0-7). Transmission is instantaneous: a THR write goes straight to the
/// output sink and THR/transmitter are empty again at once, so the TX FIFO never holds data. Host input goes
/// through <see cref="Receive"/> into the 16-byte RX FIFO; what does not fit waits in a bounded host-side queue
/// and is fed in as the guest drains the FIFO. Receive takes only what fits and says how much: the console stops
/// reading its host side until the input-space callback says the guest has drained some, so pasted input is
/// never dropped and a guest that never reads cannot make the VMM queue without bound.
/// Thread-safe: a console thread may call <see cref="Receive"/> while a vCPU accesses registers. The interrupt
/// line is driven under the device lock, so it must not call back into the UART.
/// </summary>
public sealed class Uart16550 : IPortDevice
{
    /// <summary>Eight registers, at offsets 0-7.</summary>
    public const int PortCount = 8;
    public const int FifoSize = 16;

    /// <summary>Host bytes held beyond the RX FIFO. Small: it only smooths the hand-over from the console thread.</summary>
    public const int HostQueueSize = 1024;

    // Register offsets.
    private const int RbrThrDll = 0, IerDlm = 1, IirFcr = 2, Lcr = 3, Mcr = 4, Lsr = 5, Msr = 6, Scr = 7;

    private const byte IerReceivedData = 0x01, IerThrEmpty = 0x02, IerLineStatus = 0x04, IerModemStatus = 0x08;
    private const byte IirNoInterrupt = 0x01, IirModemStatus = 0x00, IirThrEmpty = 0x02, IirReceivedData = 0x04,
        IirLineStatus = 0x06, IirCharacterTimeout = 0x0C, IirFifosEnabled = 0xC0;
    private const byte FcrEnable = 0x01, FcrClearRx = 0x02, FcrTriggerMask = 0xC0;
    private const byte LcrDlab = 0x80;
    private const byte McrDtr = 0x01, McrRts = 0x02, McrOut1 = 0x04, McrOut2 = 0x08, McrLoop = 0x10;
    private const byte LsrDataReady = 0x01, LsrOverrun = 0x02, LsrErrorBits = 0x1E, LsrThrEmpty = 0x20,
        LsrTransmitterEmpty = 0x40, LsrBreak = 0x10;
    private const byte MsrCts = 0x10, MsrDsr = 0x20, MsrRi = 0x40, MsrDcd = 0x80;
    private const byte MsrDeltaCts = 0x01, MsrDeltaDsr = 0x02, MsrTrailingRi = 0x04, MsrDeltaDcd = 0x08;

    /// <summary>What the (absent) far end presents when not in loopback: carrier, data set ready, clear to send.</summary>
    private const byte ExternalModemInputs = MsrDcd | MsrDsr | MsrCts;

    private readonly object _lock = new();
    private readonly IInterruptLine _irq;
    private readonly Action<byte> _transmit;
    private readonly ByteFifo _rx = new(FifoSize);
    private readonly ByteFifo _hostInput = new(HostQueueSize);
    private readonly Action? _inputSpace;

    private byte _ier, _lcr, _mcr, _scr, _dll = 0x0C, _dlm, _fcr;
    private byte _lineErrors;
    private byte _msrDeltas;
    private byte _lastReceived;
    private bool _thrEmptyPending;
    private bool _irqLevel;
    private bool _inputRefused;

    /// <param name="inputSpace">Called, under the device lock (it must not call back into the UART), when the
    /// guest has drained input after a <see cref="Receive"/> took less than it was offered.</param>
    public Uart16550(IInterruptLine irq, Action<byte> transmit, Action? inputSpace = null)
    {
        _irq = irq;
        _transmit = transmit;
        _inputSpace = inputSpace;
    }

    /// <summary>Bytes from the host (keyboard, pipe) waiting to enter the RX FIFO.</summary>
    public int PendingInputCount
    {
        get { lock (_lock) return _hostInput.Count; }
    }

    /// <summary>True when a received byte would go straight into the RX FIFO rather than wait in the host queue.</summary>
    public bool CanAcceptInput
    {
        get { lock (_lock) return _hostInput.Count == 0 && !InLoopback && _rx.Count < RxCapacity; }
    }

    /// <summary>Takes as many of the bytes received from the host as the RX FIFO and the host queue hold, and
    /// returns how many; the caller keeps the rest until the input-space callback. Never drops data.</summary>
    public int Receive(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            int taken = 0;
            while (taken < data.Length && _hostInput.TryEnqueue(data[taken]))
            {
                taken++;
                if (_hostInput.Count == _hostInput.Capacity) FeedRxFromHost();
            }
            if (taken < data.Length) _inputRefused = true;
            FeedRxFromHost();
            UpdateIrq();
            return taken;
        }
    }

    /// <summary>A break condition on the line (the console's Ctrl-A b): a zero character with LSR's break bit,
    /// which raises a line-status interrupt. It enters the RX FIFO at once, ahead of queued host bytes; with the
    /// FIFO full it is an overrun, as on the chip.</summary>
    public void ReceiveBreak()
    {
        lock (_lock)
        {
            if (InLoopback) return;
            if (_rx.Count < RxCapacity)
            {
                _rx.TryEnqueue(0);
                _lineErrors |= LsrBreak;
            }
            else
            {
                _lineErrors |= LsrOverrun;
            }
            UpdateIrq();
        }
    }

    public uint Read(ushort offset, int size)
    {
        if (size != 1 || offset > Scr)
            return PortAccess.AllOnes(size);
        lock (_lock)
        {
            var value = ReadRegister(offset);
            UpdateIrq();
            return value;
        }
    }

    public void Write(ushort offset, int size, uint value)
    {
        if (size != 1 || offset > Scr)
            return;
        var b = (byte)value;
        bool send;
        lock (_lock)
        {
            send = WriteRegister(offset, b);
            UpdateIrq();
        }
        // Outside the lock: a slow sink must not stall the console thread. Only the vCPU writes THR, so order holds.
        if (send)
            _transmit(b);
    }

    private bool FifoEnabled => (_fcr & FcrEnable) != 0;
    private bool InLoopback => (_mcr & McrLoop) != 0;
    private bool DivisorLatch => (_lcr & LcrDlab) != 0;
    private int RxCapacity => FifoEnabled ? FifoSize : 1;

    private int RxTriggerLevel => (_fcr & FcrTriggerMask) switch
    {
        0x00 => 1,
        0x40 => 4,
        0x80 => 8,
        _ => 14,
    };

    private byte ReadRegister(int offset)
    {
        switch (offset)
        {
            case RbrThrDll:
                if (DivisorLatch)
                    return _dll;
                if (_rx.TryDequeue(out var received))
                {
                    _lastReceived = received;
                    FeedRxFromHost();
                }
                return _lastReceived;
            case IerDlm:
                return DivisorLatch ? _dlm : _ier;
            case IirFcr:
                var id = PendingInterruptId();
                if (id == IirThrEmpty)
                    _thrEmptyPending = false;   // reading IIR acknowledges THRE when it is the reported source
                return (byte)(id | (FifoEnabled ? IirFifosEnabled : 0));
            case Lcr:
                return _lcr;
            case Mcr:
                return _mcr;
            case Lsr:
                var lsr = (byte)(_lineErrors | LsrThrEmpty | LsrTransmitterEmpty | (_rx.IsEmpty ? 0 : LsrDataReady));
                _lineErrors = 0;
                return lsr;
            case Msr:
                var msr = (byte)(ModemInputs() | _msrDeltas);
                _msrDeltas = 0;
                return msr;
            default:
                return _scr;
        }
    }

    /// <summary>Returns true when <paramref name="value"/> must be sent to the output sink.</summary>
    private bool WriteRegister(int offset, byte value)
    {
        switch (offset)
        {
            case RbrThrDll:
                if (DivisorLatch)
                {
                    _dll = value;
                    return false;
                }
                // The byte leaves at once, so THR is empty (and THRE pending) again straight away.
                _thrEmptyPending = true;
                if (!InLoopback)
                    return true;
                if (_rx.Count < RxCapacity)
                    _rx.TryEnqueue(value);
                else
                    _lineErrors |= LsrOverrun;     // the FIFO keeps its contents; the new character is lost
                return false;
            case IerDlm:
                if (DivisorLatch)
                {
                    _dlm = value;
                    return false;
                }
                var newIer = (byte)(value & 0x0F);
                // Linux probes this: enabling ETBEI with THR empty raises THRE (re-armed on every 0 -> 1 edge).
                if (((_ier ^ newIer) & IerThrEmpty) != 0)
                    _thrEmptyPending = (newIer & IerThrEmpty) != 0;
                _ier = newIer;
                return false;
            case IirFcr:
                WriteFifoControl(value);
                return false;
            case Lcr:
                _lcr = value;
                return false;
            case Mcr:
                WriteModemControl((byte)(value & 0x1F));
                return false;
            case Scr:
                _scr = value;
                return false;
            default:
                return false;   // LSR and MSR are read-only (the LSR factory-test write is not emulated)
        }
    }

    private void WriteFifoControl(byte value)
    {
        var enable = (value & FcrEnable) != 0;
        if (enable != FifoEnabled)
            _rx.Clear();
        if (!enable)
        {
            _fcr = 0;
            FeedRxFromHost();
            return;
        }
        if ((value & FcrClearRx) != 0)
            _rx.Clear();
        // The TX FIFO is always empty (instant transmission), so its clear bit needs no action.
        _fcr = (byte)(value & (FcrEnable | FcrTriggerMask));
        FeedRxFromHost();
    }

    private void WriteModemControl(byte value)
    {
        var before = ModemInputs();
        _mcr = value;
        var after = ModemInputs();
        var changed = (byte)(before ^ after);
        if ((changed & MsrCts) != 0) _msrDeltas |= MsrDeltaCts;
        if ((changed & MsrDsr) != 0) _msrDeltas |= MsrDeltaDsr;
        if ((changed & MsrDcd) != 0) _msrDeltas |= MsrDeltaDcd;
        if ((before & MsrRi) != 0 && (after & MsrRi) == 0) _msrDeltas |= MsrTrailingRi;
        FeedRxFromHost();
    }

    /// <summary>MSR bits 4-7. In loopback the modem outputs feed back: RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD.</summary>
    private byte ModemInputs()
    {
        if (!InLoopback)
            return ExternalModemInputs;
        var inputs = 0;
        if ((_mcr & McrRts) != 0) inputs |= MsrCts;
        if ((_mcr & McrDtr) != 0) inputs |= MsrDsr;
        if ((_mcr & McrOut1) != 0) inputs |= MsrRi;
        if ((_mcr & McrOut2) != 0) inputs |= MsrDcd;
        return (byte)inputs;
    }

    private void FeedRxFromHost()
    {
        if (InLoopback)
            return;     // host input waits while the receiver is looped back to the transmitter
        bool moved = false;
        while (_rx.Count < RxCapacity && _hostInput.TryDequeue(out var b))
        {
            _rx.TryEnqueue(b);
            moved = true;
        }
        if (moved && _inputRefused)
        {
            _inputRefused = false;
            _inputSpace?.Invoke();
        }
    }

    /// <summary>IIR bits 0-3, highest priority first: line status, received data / timeout, THRE, modem status.</summary>
    private byte PendingInterruptId()
    {
        if ((_ier & IerLineStatus) != 0 && (_lineErrors & LsrErrorBits) != 0)
            return IirLineStatus;
        if ((_ier & IerReceivedData) != 0 && !_rx.IsEmpty)
        {
            // There is no character clock: data below the trigger level is reported as a timeout right away,
            // which the guest drains exactly like received-data-available.
            return !FifoEnabled || _rx.Count >= RxTriggerLevel ? IirReceivedData : IirCharacterTimeout;
        }
        if ((_ier & IerThrEmpty) != 0 && _thrEmptyPending)
            return IirThrEmpty;
        if ((_ier & IerModemStatus) != 0 && _msrDeltas != 0)
            return IirModemStatus;
        return IirNoInterrupt;
    }

    /// <summary>On a PC the UART's INTR reaches the PIC only through OUT2, which loopback forces inactive.</summary>
    private void UpdateIrq()
    {
        var level = PendingInterruptId() != IirNoInterrupt && (_mcr & McrOut2) != 0 && !InLoopback;
        if (level == _irqLevel)
            return;
        _irqLevel = level;
        _irq.Set(level);
    }
}
