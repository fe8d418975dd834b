namespace Vessel.Devices;

/// <summary>
/// The AT keyboard behind the i8042's first port, enough to answer the commands Linux's atkbd sends while
/// probing (identify, reset, LEDs, scancode set, typematic, enable/disable) so the probe does not wait out
/// timeouts. Key presses come only from <see cref="I8042.SendCtrlAltDel"/>. Not thread-safe: <see cref="I8042"/> locks around it.
/// </summary>
internal sealed class Ps2Keyboard
{
    public const byte Ack = 0xFA, Resend = 0xFE, SelfTestPassed = 0xAA, Echo = 0xEE;
    private const byte SetLeds = 0xED, EchoCommand = 0xEE, ScancodeSetCommand = 0xF0, Identify = 0xF2,
        SetTypematic = 0xF3, EnableScanning = 0xF4, DisableScanning = 0xF5, SetDefaults = 0xF6,
        ResendCommand = 0xFE, Reset = 0xFF;

    private byte? _commandAwaitingParameter;

    public bool ScanningEnabled { get; private set; } = true;
    public byte ScancodeSet { get; private set; } = 2;
    public byte Leds { get; private set; }

    /// <summary>Handle a byte the guest sent to the keyboard; <paramref name="respond"/> receives its replies.</summary>
    public void Write(byte value, Action<byte> respond)
    {
        if (_commandAwaitingParameter is byte command)
        {
            _commandAwaitingParameter = null;
            WriteParameter(command, value, respond);
            return;
        }
        switch (value)
        {
            case SetLeds or ScancodeSetCommand or SetTypematic:
                _commandAwaitingParameter = value;
                respond(Ack);
                break;
            case EchoCommand:
                respond(Echo);
                break;
            case Identify:
                respond(Ack);
                respond(0xAB);  // MF2 keyboard
                respond(0x83);
                break;
            case EnableScanning:
                ScanningEnabled = true;
                respond(Ack);
                break;
            case DisableScanning:
                ScanningEnabled = false;
                respond(Ack);
                break;
            case SetDefaults:
                ScancodeSet = 2;
                respond(Ack);
                break;
            case Reset:
                ScanningEnabled = true;
                ScancodeSet = 2;
                Leds = 0;
                respond(Ack);
                respond(SelfTestPassed);
                break;
            case >= 0xF7 and <= 0xFD:   // scancode-set-3 key attribute commands: accepted, no effect
            case ResendCommand:
                respond(Ack);
                break;
            default:
                respond(Resend);
                break;
        }
    }

    private void WriteParameter(byte command, byte value, Action<byte> respond)
    {
        switch (command)
        {
            case SetLeds:
                Leds = (byte)(value & 0x07);
                break;
            case ScancodeSetCommand when value == 0:
                respond(Ack);
                respond(ScancodeSet);
                return;
            case ScancodeSetCommand when value <= 3:
                ScancodeSet = value;
                break;
            case ScancodeSetCommand:
                respond(Resend);
                return;
        }
        respond(Ack);
    }
}
