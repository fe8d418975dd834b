namespace Vessel.Boot;

/// <summary>How PCI INTx lines of bus 0 reach the IOAPIC: device d, pin p (0 = INTA) is wired to GSI
/// 16 + ((d + p) mod 8). The MP table describes exactly this wiring and the VMM's PCI devices use it.</summary>
public static class PciInterruptRouting
{
    public const int FirstPciGsi = 16;
    public const int PciGsiCount = 8;

    public static int GsiFor(int device, int pin) => FirstPciGsi + ((device + pin) % PciGsiCount);
}
