using System.Buffers.Binary;

namespace Vessel.Boot.Linux;

/// <summary>The "zero page" (struct boot_params) handed to a 64-bit Linux entry in RSI.</summary>
internal static class LinuxBootParams
{
    public const int Size = 4096;
    private const int E820EntriesOffset = 0x1E8, E820TableOffset = 0x2D0, E820MaxEntries = 128;
    private const int ExtRamdiskImage = 0x0C0, ExtRamdiskSize = 0x0C4, ExtCmdLinePtr = 0x0C8;
    private const int TypeOfLoader = 0x210, LoadFlagsOffset = 0x211, RamdiskImage = 0x218, RamdiskSize = 0x21C, CmdLinePtr = 0x228;
    /// <summary>"Undefined" boot loader id, as boot.rst asks of loaders without an assigned id.</summary>
    private const byte UndefinedLoader = 0xFF;

    public static byte[] Build(ReadOnlySpan<byte> image, LinuxSetupHeader header, MemoryMap map,
        ulong commandLine, ulong initrd, ulong initrdSize)
    {
        var p = new byte[Size];
        image[LinuxSetupHeader.HeaderStart..header.HeaderEnd].CopyTo(p.AsSpan(LinuxSetupHeader.HeaderStart));
        p[TypeOfLoader] = UndefinedLoader;
        p[LoadFlagsOffset] = (byte)(header.LoadFlags & ~0x80); // CAN_USE_HEAP only matters for the 16-bit entry
        BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(CmdLinePtr), (uint)commandLine);
        BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(ExtCmdLinePtr), (uint)(commandLine >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(RamdiskImage), (uint)initrd);
        BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(ExtRamdiskImage), (uint)(initrd >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(RamdiskSize), (uint)initrdSize);
        BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(ExtRamdiskSize), (uint)(initrdSize >> 32));

        int n = Math.Min(map.Entries.Count, E820MaxEntries);
        p[E820EntriesOffset] = (byte)n;
        for (int i = 0; i < n; i++)
        {
            var e = map.Entries[i];
            Span<byte> entry = p.AsSpan(E820TableOffset + i * 20, 20);
            BinaryPrimitives.WriteUInt64LittleEndian(entry, e.Start);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], e.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[16..], (uint)e.Type);
        }
        return p;
    }
}
