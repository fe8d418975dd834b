namespace Vessel.Devices;

/// <summary>
/// The 8042 keyboard controller: <see cref="DataPort"/> at 0x60 and <see cref="CommandPort"/> at 0x64, with an
/// AT keyboard on the first port and nothing on the auxiliary (mouse) port. Commands 0xF0-0xFF pulse output
/// lines; pulsing bit 0 (e.g. 0xFE) resets the machine, as does writing the output port with bit 0 clear.
/// Thread-safe (the two ports may be accessed from different vCPUs).
/// </summary>
public sealed class I8042
{
    // Status register bits.
    /// <summary><see cref="DataPort"/> and <see cref="CommandPort"/> are one port each.</summary>
    public const int PortLength = 1;
    public const byte StatusOutputFull = 0x01, StatusSystemFlag = 0x04, StatusLastWriteWasCommand = 0x08,
        StatusUnlocked = 0x10, StatusAuxData = 0x20;

    // Controller configuration byte ("command byte") bits.
    public const byte ConfigKeyboardInterrupt = 0x01, ConfigAuxInterrupt = 0x02, ConfigSystemFlag = 0x04,
        ConfigKeyboardDisabled = 0x10, ConfigAuxDisabled = 0x20, ConfigTranslate = 0x40;

    private const int OutputQueueLimit = 16;

    private readonly object _lock = new();
    private readonly ISystemControl _system;
    private readonly IInterruptLine _keyboardIrq;
    private readonly IInterruptLine _auxIrq;
    private readonly Ps2Keyboard _keyboard = new();
    private readonly Queue<(byte Value, bool FromAux)> _output = new();
    private readonly byte[] _ram = new byte[32];    // _ram[0] is the configuration byte
    private readonly Action<byte> _keyboardRespond;
    private byte _pendingCommand;
    private byte _outputPort = 0x03;                // bit 0: reset line not asserted; bit 1: A20 enabled
    private byte _lastRead;
    private bool _lastWriteWasCommand;
    private bool _keyboardIrqLevel, _auxIrqLevel;

    public I8042(ISystemControl system, IInterruptLine? keyboardIrq = null, IInterruptLine? auxIrq = null)
    {
        _system = system;
        _keyboardIrq = keyboardIrq ?? NullInterruptLine.Instance;
        _auxIrq = auxIrq ?? NullInterruptLine.Instance;
        _ram[0] = ConfigKeyboardInterrupt | ConfigAuxInterrupt | ConfigSystemFlag | ConfigTranslate;
        _keyboardRespond = b => Enqueue(b, fromAux: false);
        DataPort = new Port(this, isCommandPort: false);
        CommandPort = new Port(this, isCommandPort: true);
    }

    /// <summary>Port 0x60: output buffer (read) and command parameters / keyboard data (write).</summary>
    public IPortDevice DataPort { get; }

    /// <summary>Port 0x64: status (read) and controller commands (write).</summary>
    public IPortDevice CommandPort { get; }

    /// <summary>The A20 gate bit of the controller's output port.</summary>
    public bool A20Enabled
    {
        get { lock (_lock) return (_outputPort & 0x02) != 0; }
    }

    private byte Config => _ram[0];

    // Ctrl, Alt and Delete pressed, then released in reverse order, in each scancode set. With the controller's
    // translation on (Linux leaves it on), the guest reads set 1 whatever set the keyboard is in.
    private static readonly byte[] CtrlAltDelSet1 = [0x1D, 0x38, 0xE0, 0x53, 0xE0, 0xD3, 0xB8, 0x9D];
    private static readonly byte[] CtrlAltDelSet2 = [0x14, 0x11, 0xE0, 0x71, 0xE0, 0xF0, 0x71, 0xF0, 0x11, 0xF0, 0x14];
    private static readonly byte[] CtrlAltDelSet3 = [0x11, 0x19, 0x64, 0xF0, 0x64, 0xF0, 0x19, 0xF0, 0x11];

    /// <summary>The keyboard types Ctrl-Alt-Del (Firecracker's SendCtrlAltDel): the key codes go to the output
    /// buffer and raise IRQ 1 as typed keys would. False, with nothing queued, when the guest has the keyboard or
    /// its scanning disabled or the buffer has no room for the whole sequence.</summary>
    public bool SendCtrlAltDel()
    {
        lock (_lock)
        {
            byte[] codes = (Config & ConfigTranslate) != 0 ? CtrlAltDelSet1 : _keyboard.ScancodeSet switch
            {
                1 => CtrlAltDelSet1,
                3 => CtrlAltDelSet3,
                _ => CtrlAltDelSet2,
            };
            if ((Config & ConfigKeyboardDisabled) != 0 || !_keyboard.ScanningEnabled || OutputQueueLimit - _output.Count < codes.Length)
                return false;
            foreach (byte code in codes) _output.Enqueue((code, false));
            UpdateIrqs();
            return true;
        }
    }

    private byte ReadStatus()
    {
        var status = StatusUnlocked;
        if ((Config & ConfigSystemFlag) != 0) status |= StatusSystemFlag;
        if (_lastWriteWasCommand) status |= StatusLastWriteWasCommand;
        if (_output.TryPeek(out var head))
        {
            status |= StatusOutputFull;
            if (head.FromAux) status |= StatusAuxData;
        }
        return status;
    }

    private byte ReadData()
    {
        // Drop the line before loading the next byte so an edge-triggered PIC sees a fresh edge for it.
        SetIrqs(keyboard: false, aux: false);
        if (_output.TryDequeue(out var head))
            _lastRead = head.Value;
        UpdateIrqs();
        return _lastRead;
    }

    /// <summary>Returns true when the guest asked for a reset.</summary>
    private bool WriteCommand(byte command)
    {
        _lastWriteWasCommand = true;
        _pendingCommand = 0;
        switch (command)
        {
            case >= 0x20 and <= 0x3F:
                Enqueue(_ram[command & 0x1F], fromAux: false);
                break;
            case >= 0x60 and <= 0x7F:
            case 0xD1 or 0xD2 or 0xD3 or 0xD4:
                _pendingCommand = command;
                break;
            case 0xA7: _ram[0] |= ConfigAuxDisabled; break;
            case 0xA8: _ram[0] = (byte)(_ram[0] & ~ConfigAuxDisabled); break;
            case 0xA9: Enqueue(0x00, fromAux: false); break;        // aux interface test: no error
            case 0xAA:                                              // controller self-test
                _ram[0] |= ConfigSystemFlag;
                Enqueue(0x55, fromAux: false);
                break;
            case 0xAB: Enqueue(0x00, fromAux: false); break;        // keyboard interface test: no error
            case 0xAD: _ram[0] |= ConfigKeyboardDisabled; break;
            case 0xAE: _ram[0] = (byte)(_ram[0] & ~ConfigKeyboardDisabled); break;
            case 0xD0: Enqueue(_outputPort, fromAux: false); break;
            case >= 0xF0:
                return (command & 0x01) == 0;                       // pulse output lines; bit 0 is CPU reset
        }
        UpdateIrqs();
        return false;
    }

    /// <summary>Returns true when the guest asked for a reset.</summary>
    private bool WriteData(byte value)
    {
        _lastWriteWasCommand = false;
        var command = _pendingCommand;
        _pendingCommand = 0;
        var reset = false;
        switch (command)
        {
            case >= 0x60 and <= 0x7F:
                _ram[command & 0x1F] = value;
                break;
            case 0xD1:
                _outputPort = value;
                reset = (value & 0x01) == 0;
                break;
            case 0xD2: Enqueue(value, fromAux: false); break;
            case 0xD3: Enqueue(value, fromAux: true); break;
            case 0xD4: break;                                       // no mouse attached: the byte goes nowhere
            default:
                _keyboard.Write(value, _keyboardRespond);
                break;
        }
        UpdateIrqs();
        return reset;
    }

    private void Enqueue(byte value, bool fromAux)
    {
        if (_output.Count < OutputQueueLimit)
            _output.Enqueue((value, fromAux));
    }

    private void UpdateIrqs()
    {
        var has = _output.TryPeek(out var head);
        SetIrqs(
            keyboard: has && !head.FromAux && (Config & ConfigKeyboardInterrupt) != 0,
            aux: has && head.FromAux && (Config & ConfigAuxInterrupt) != 0);
    }

    private void SetIrqs(bool keyboard, bool aux)
    {
        if (keyboard != _keyboardIrqLevel)
        {
            _keyboardIrqLevel = keyboard;
            _keyboardIrq.Set(keyboard);
        }
        if (aux != _auxIrqLevel)
        {
            _auxIrqLevel = aux;
            _auxIrq.Set(aux);
        }
    }

    private sealed class Port(I8042 controller, bool isCommandPort) : IPortDevice
    {
        public uint Read(ushort offset, int size)
        {
            if (offset != 0 || size != 1)
                return PortAccess.AllOnes(size);
            lock (controller._lock)
                return isCommandPort ? controller.ReadStatus() : controller.ReadData();
        }

        public void Write(ushort offset, int size, uint value)
        {
            if (offset != 0 || size != 1)
                return;
            bool reset;
            lock (controller._lock)
                reset = isCommandPort ? controller.WriteCommand((byte)value) : controller.WriteData((byte)value);
            // Outside the lock: the machine may stop vCPUs in response.
            if (reset)
                controller._system.RequestReset();
        }
    }
}
