namespace Vessel.Devices.Platform;

/// <summary>APIC delivery modes (the ICR, IOAPIC redirection entries and MSI data share them).</summary>
public enum DeliveryMode
{
    Fixed = 0,
    LowestPriority = 1,
    Smi = 2,
    Nmi = 4,
    Init = 5,
    StartUp = 6,
    ExtInt = 7,
}

/// <summary>An interrupt message on the APIC bus: from an IOAPIC pin, an MSI or an IPI.</summary>
/// <param name="Destination">APIC ID (physical) or logical mask; 0xFF (xAPIC) / 0xFFFFFFFF (x2APIC) broadcast.</param>
public readonly record struct InterruptMessage(
    byte Vector, DeliveryMode Mode, bool LogicalDestination, uint Destination, bool LevelTriggered)
{
    /// <summary>Decodes an MSI write (address 0xFEExxxxx, data) as the LAPIC sees it.</summary>
    public static InterruptMessage FromMsi(ulong address, uint data) => new(
        (byte)data,
        (DeliveryMode)((data >> 8) & 7),
        (address & (1 << 2)) != 0,
        (uint)((address >> 12) & 0xFF),
        (data & (1 << 15)) != 0);
}

/// <summary>Where interrupt messages go: the APIC bus of the local APICs.</summary>
public interface IInterruptMessageSink
{
    void Deliver(in InterruptMessage message);
}
