namespace Vessel.Devices.Platform;

/// <summary>What an I/O APIC hands to the local APICs: one interrupt message (as an MSI would carry).</summary>
public readonly record struct ApicMessage(int Vector, int DeliveryMode, bool LogicalDestination, int Destination, bool LevelTriggered);

/// <summary>The I/O APIC: 24 pins, a redirection table, edge and level triggering with remote IRR and the EOI
/// broadcast that clears it. Registers are reached through IOREGSEL (offset 0x00) and IOWIN (0x10) of its
/// <see cref="MmioLength"/>-byte page, which repeats every 256 bytes. The owner routes its messages to the local
/// APICs. Thread-safe (it locks itself, so the bus needs no gate).</summary>
public sealed class IoApic(Action<ApicMessage> deliver, byte id = 0) : IMmioDevice, IConcurrentDevice
{
    public const ulong MmioLength = 0x1000;
    public const int Pins = 24;

    /// <summary>A bus access: only 32-bit accesses reach the registers; others read 0 and write nothing.</summary>
    ulong IMmioDevice.Read(ulong offset, int size) => size == 4 ? Read(offset & 0xFF) : 0;

    void IMmioDevice.Write(ulong offset, int size, ulong value)
    {
        if (size == 4) Write(offset & 0xFF, (uint)value);
    }
    private const ulong Masked = 1 << 16, LevelTrigger = 1 << 15, RemoteIrr = 1 << 14, DeliveryStatus = 1 << 12;

    private readonly ulong[] _redirection = Enumerable.Repeat(Masked, Pins).ToArray();
    private readonly bool[] _level = new bool[Pins];
    private readonly object _lock = new();
    private uint _select;
    private byte _id = id;

    public uint Read(ulong offset)
    {
        lock (_lock)
        {
            if (offset == 0x00) return _select;
            if (offset != 0x10) return 0;
            return _select switch
            {
                0x00 => (uint)_id << 24,
                0x01 => 0x11 | ((Pins - 1) << 16), // version 0x11, 24 entries
                0x02 => (uint)_id << 24,
                >= 0x10 and < 0x10 + Pins * 2 => (uint)(_redirection[(_select - 0x10) / 2] >> (int)(32 * (_select & 1))),
                _ => 0,
            };
        }
    }

    public void Write(ulong offset, uint value)
    {
        var pending = new List<ApicMessage>();
        lock (_lock)
        {
            if (offset == 0x00)
            {
                _select = value & 0xFF;
                return;
            }
            if (offset != 0x10) return;
            if (_select == 0x00)
            {
                _id = (byte)((value >> 24) & 0xF);
                return;
            }
            if (_select is < 0x10 or >= 0x10 + Pins * 2) return;
            int pin = (int)(_select - 0x10) / 2;
            ulong old = _redirection[pin];
            const ulong readOnly = RemoteIrr | DeliveryStatus;
            ulong updated = (_select & 1) == 0
                ? (old & (0xFFFF_FFFF_0000_0000UL | readOnly)) | (value & ~(uint)readOnly)
                : (old & 0xFFFF_FFFFUL) | ((ulong)value << 32);
            _redirection[pin] = updated;
            // Unmasking a level-triggered pin whose line is still high delivers it.
            if (_level[pin] && (updated & Masked) == 0) TryDeliver(pin, pending);
        }
        foreach (var m in pending) deliver(m);
    }

    public void SetIrq(int pin, bool level)
    {
        if (pin is < 0 or >= Pins) return;
        var pending = new List<ApicMessage>(1);
        lock (_lock)
        {
            bool wasHigh = _level[pin];
            _level[pin] = level;
            bool levelTriggered = (_redirection[pin] & LevelTrigger) != 0;
            if (level && (levelTriggered || !wasHigh)) TryDeliver(pin, pending);
        }
        foreach (var m in pending) deliver(m);
    }

    /// <summary>A local APIC's EOI for a level-triggered vector: clears remote IRR on the pins with that vector and
    /// delivers again those whose line is still high.</summary>
    public void EndOfInterrupt(int vector)
    {
        var pending = new List<ApicMessage>();
        lock (_lock)
        {
            for (int pin = 0; pin < Pins; pin++)
            {
                ulong e = _redirection[pin];
                if ((int)(e & 0xFF) != vector || (e & RemoteIrr) == 0) continue;
                _redirection[pin] = e & ~RemoteIrr;
                if (_level[pin]) TryDeliver(pin, pending);
            }
        }
        foreach (var m in pending) deliver(m);
    }

    private void TryDeliver(int pin, List<ApicMessage> pending)
    {
        ulong e = _redirection[pin];
        if ((e & Masked) != 0) return;
        bool levelTriggered = (e & LevelTrigger) != 0;
        if (levelTriggered)
        {
            if ((e & RemoteIrr) != 0) return; // still being serviced
            _redirection[pin] = e | RemoteIrr;
        }
        pending.Add(new ApicMessage((int)(e & 0xFF), (int)((e >> 8) & 7), (e & (1 << 11)) != 0, (int)(e >> 56), levelTriggered));
    }
}
