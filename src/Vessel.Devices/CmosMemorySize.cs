namespace Vessel.Devices;

/// <summary>The memory-size bytes a PC BIOS leaves in CMOS, which boot code and some guests read.</summary>
internal static class CmosMemorySize
{
    private const ulong KiB = 1024, MiB = 1024 * KiB;

    /// <param name="cmos">The 128 CMOS bytes.</param>
    /// <param name="bytesBelow4G">RAM from address 0 up to the 32-bit hole.</param>
    /// <param name="bytesAbove4G">RAM mapped from 4 GiB upwards.</param>
    public static void Store(Span<byte> cmos, ulong bytesBelow4G, ulong bytesAbove4G)
    {
        WriteU16(cmos, 0x15, 640);                                          // base memory, KiB

        var extendedKiB = bytesBelow4G > MiB ? Math.Min((bytesBelow4G - MiB) / KiB, 0xFFFF) : 0;
        WriteU16(cmos, 0x17, (ushort)extendedKiB);                          // KiB above 1 MiB
        WriteU16(cmos, 0x30, (ushort)extendedKiB);

        var above16M = bytesBelow4G > 16 * MiB ? Math.Min((bytesBelow4G - 16 * MiB) / (64 * KiB), 0xFFFF) : 0;
        WriteU16(cmos, 0x34, (ushort)above16M);                             // 64 KiB blocks above 16 MiB

        var above4G = Math.Min(bytesAbove4G / (64 * KiB), 0xFF_FFFF);       // 64 KiB blocks above 4 GiB, 24 bits
        cmos[0x5B] = (byte)above4G;
        cmos[0x5C] = (byte)(above4G >> 8);
        cmos[0x5D] = (byte)(above4G >> 16);
    }

    private static void WriteU16(Span<byte> cmos, int index, ushort value)
    {
        cmos[index] = (byte)value;
        cmos[index + 1] = (byte)(value >> 8);
    }
}
