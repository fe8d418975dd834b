using System.Buffers.Binary;
using Vessel.Devices.Pci;

namespace Vessel.Virtio.Pci;

/// <summary>Where a virtio-pci function keeps its registers (virtio 1.x, 4.1): BAR 0 (32-bit, 4 KiB) holds the
/// MSI-X table and PBA; BAR 2 (64-bit, 16 KiB) holds the common configuration, ISR status, device-specific
/// configuration and notification regions, one page each, each described by a vendor capability.</summary>
public static class VirtioPciLayout
{
    public const ushort VendorId = 0x1AF4, ModernDeviceIdBase = 0x1040, SubsystemId = 0x1100;

    public const int MsixBar = 0, RegisterBar = 2;
    public const ulong MsixBarSize = 0x1000, RegisterBarSize = 0x4000;
    public const uint MsixTableOffset = 0, MsixPbaOffset = 0x800;
    public const int MaxVectors = 64;

    public const ulong CommonOffset = 0x0000, IsrOffset = 0x1000, DeviceConfigOffset = 0x2000, NotifyOffset = 0x3000;
    public const uint CommonLength = 0x38, IsrLength = 4, RegionLength = 0x1000;
    public const uint NotifyOffMultiplier = 4;

    // Vendor capability cfg_type values.
    public const byte CommonCfg = 1, NotifyCfg = 2, IsrCfg = 3, DeviceCfg = 4;
    public const byte VendorCapabilityId = 0x09;

    /// <summary>PCI class codes by device type, as QEMU gives them (Linux matches on IDs, not classes).</summary>
    public static uint ClassFor(VirtioDeviceType type) => type switch
    {
        VirtioDeviceType.Block => 0x01_80_00,
        VirtioDeviceType.Net => 0x02_00_00,
        VirtioDeviceType.Console => 0x07_80_00,
        _ => 0xFF_00_00,
    };

    /// <summary>Appends one virtio_pci_cap (with notify_off_multiplier for the notify capability).</summary>
    public static int AddVendorCapability(PciConfigSpace config, byte cfgType, int bar, ulong offset, uint length)
    {
        bool notify = cfgType == NotifyCfg;
        Span<byte> body = stackalloc byte[notify ? 18 : 14];
        body[0] = (byte)(body.Length + 2); // cap_len counts the ID and next bytes
        body[1] = cfgType;
        body[2] = (byte)bar;
        BinaryPrimitives.WriteUInt32LittleEndian(body[6..], (uint)offset);
        BinaryPrimitives.WriteUInt32LittleEndian(body[10..], length);
        if (notify) BinaryPrimitives.WriteUInt32LittleEndian(body[14..], NotifyOffMultiplier);
        return config.AddCapability(VendorCapabilityId, body);
    }
}
