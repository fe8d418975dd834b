namespace Vessel.Devices.Pci;

/// <summary>The host bridge at 00:00.0: a header with no BARs that tells the OS a PCI bus is here (Linux's
/// type-1 probe looks for a device of class "host bridge" on bus 0). Red Hat's generic PCIe host bridge ID,
/// which carries no chipset quirks.</summary>
public sealed class PciHostBridge : IPciFunction
{
    public const ushort VendorRedHat = 0x1B36, DeviceHostBridge = 0x0008;
    public const uint ClassHostBridge = 0x06_00_00;

    public PciConfigSpace Config { get; } = new(VendorRedHat, DeviceHostBridge, ClassHostBridge,
        subsystemVendorId: VendorRedHat, subsystemId: 0x1100);

    public ulong ReadBar(int bar, ulong offset, int size) => ulong.MaxValue;

    public void WriteBar(int bar, ulong offset, int size, ulong value) { }
}
