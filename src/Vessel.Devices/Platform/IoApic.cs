namespace Vessel.Devices.Platform;

/// <summary>The I/O APIC at 0xFEC00000: 24 pins, each with a redirection entry that turns its line into
/// an interrupt message (edge, or level with remote IRR until the local APIC's EOI broadcast).
/// Registers are reached through IOREGSEL (offset 0x00) and IOWIN (offset 0x10). Not thread-safe:
/// the platform serialises calls.</summary>
public sealed class IoApic
{
    public const ulong BaseAddress = 0xFEC0_0000;
    public const ulong Size = 0x100;
    public const int Pins = 24;
    public const uint Version = 0x11;

    private const ulong Vector = 0xFF, DestinationLogical = 1 << 11, Polarity = 1 << 13, RemoteIrr = 1 << 14,
        LevelTriggered = 1 << 15, Masked = 1 << 16;
    private const ulong Writable = Vector | (7 << 8) | DestinationLogical | Polarity | LevelTriggered | Masked | (0xFFUL << 56);

    private readonly IInterruptMessageSink _sink;
    private readonly ulong[] _redirection = new ulong[Pins];
    private readonly bool[] _lines = new bool[Pins];
    private uint _select;
    private uint _id;

    public IoApic(IInterruptMessageSink sink, byte id)
    {
        _sink = sink;
        _id = id;
        for (int i = 0; i < Pins; i++) _redirection[i] = Masked;
    }

    public ulong RedirectionEntry(int pin) => _redirection[pin];

    public ulong Read(ulong offset, int size)
    {
        return offset switch
        {
            0x00 => _select,
            0x10 => ReadRegister(_select),
            _ => 0,
        };
    }

    public void Write(ulong offset, int size, ulong value)
    {
        switch (offset)
        {
            case 0x00: _select = (uint)value & 0xFF; break;
            case 0x10: WriteRegister(_select, (uint)value); break;
        }
    }

    private uint ReadRegister(uint index)
    {
        switch (index)
        {
            case 0: return _id << 24;
            case 1: return ((uint)(Pins - 1) << 16) | Version;
            case 2: return _id << 24; // arbitration ID
        }
        int pin = (int)(index - 0x10) / 2;
        if (index < 0x10 || pin >= Pins) return 0;
        ulong entry = _redirection[pin];
        return (index & 1) == 0 ? (uint)entry : (uint)(entry >> 32);
    }

    private void WriteRegister(uint index, uint value)
    {
        if (index == 0)
        {
            _id = (value >> 24) & 0xF;
            return;
        }
        int pin = (int)(index - 0x10) / 2;
        if (index < 0x10 || pin >= Pins) return;
        ulong entry = _redirection[pin];
        ulong updated = (index & 1) == 0 ? (entry & ~0xFFFF_FFFFUL) | value : (entry & 0xFFFF_FFFF) | ((ulong)value << 32);
        entry = (entry & ~Writable) | (updated & Writable);
        if ((entry & LevelTriggered) == 0) entry &= ~RemoteIrr;
        _redirection[pin] = entry;
        // Unmasking a level-triggered line that is still asserted delivers it now.
        if ((entry & (LevelTriggered | Masked | RemoteIrr)) == LevelTriggered && _lines[pin]) Deliver(pin);
    }

    /// <summary>Drives pin <paramref name="pin"/>: true asserted, false deasserted (polarity is the
    /// wiring's business: callers pass the logical level, as KVM's irq lines do).</summary>
    public void SetPin(int pin, bool level)
    {
        if ((uint)pin >= Pins) return;
        bool previous = _lines[pin];
        _lines[pin] = level;
        ulong entry = _redirection[pin];
        if (!level || (entry & Masked) != 0) return;
        if ((entry & LevelTriggered) != 0)
        {
            if ((entry & RemoteIrr) == 0) Deliver(pin);
        }
        else if (!previous) Deliver(pin);
    }

    /// <summary>The local APICs' EOI broadcast for a level-triggered <paramref name="vector"/>: clears
    /// remote IRR and delivers again where the line is still asserted.</summary>
    public void EndOfInterrupt(int vector)
    {
        for (int pin = 0; pin < Pins; pin++)
        {
            ulong entry = _redirection[pin];
            if ((int)(entry & Vector) != vector || (entry & RemoteIrr) == 0) continue;
            _redirection[pin] = entry & ~RemoteIrr;
            if (_lines[pin] && (entry & Masked) == 0) Deliver(pin);
        }
    }

    private void Deliver(int pin)
    {
        ulong entry = _redirection[pin];
        bool level = (entry & LevelTriggered) != 0;
        if (level) _redirection[pin] = entry | RemoteIrr;
        _sink.Deliver(new InterruptMessage(
            (byte)entry, (DeliveryMode)((entry >> 8) & 7), (entry & DestinationLogical) != 0, (uint)(entry >> 56), level));
    }
}
