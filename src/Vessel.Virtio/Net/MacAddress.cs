using System.Globalization;

namespace Vessel.Virtio.Net;

/// <summary>A unicast Ethernet address, parsed from "52:54:00:12:34:56".</summary>
public readonly record struct MacAddress(byte B0, byte B1, byte B2, byte B3, byte B4, byte B5)
{
    /// <summary>QEMU's prefix, with the NIC's index in the last byte.</summary>
    public static MacAddress Default(int index) => new(0x52, 0x54, 0x00, 0x12, 0x34, (byte)(0x56 + index));

    public static bool TryParse(string text, out MacAddress mac)
    {
        mac = default;
        var parts = text.Split(':');
        if (parts.Length != 6)
            return false;
        Span<byte> b = stackalloc byte[6];
        for (int i = 0; i < 6; i++)
        {
            if (parts[i].Length != 2 || !byte.TryParse(parts[i], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out b[i]))
                return false;
        }
        // Bit 0 of the first byte marks a multicast group: a NIC's own address cannot be one.
        if ((b[0] & 1) != 0)
            return false;
        mac = new MacAddress(b[0], b[1], b[2], b[3], b[4], b[5]);
        return true;
    }

    public void CopyTo(Span<byte> destination)
    {
        destination[0] = B0; destination[1] = B1; destination[2] = B2;
        destination[3] = B3; destination[4] = B4; destination[5] = B5;
    }

    public override string ToString() => $"{B0:x2}:{B1:x2}:{B2:x2}:{B3:x2}:{B4:x2}:{B5:x2}";
}
