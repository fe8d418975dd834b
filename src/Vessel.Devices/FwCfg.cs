using System.Buffers.Binary;
using System.Text;

namespace Vessel.Devices;

/// <summary>
/// QEMU's fw_cfg, legacy I/O interface only (no DMA): a 16-bit write at offset 0 (port 0x510) selects an item
/// and resets the read position; each 8-bit read at offset 1 (0x511) returns the next byte of the item, 0 past
/// its end or for an unknown item. Values are little-endian unless noted.
/// </summary>
public sealed class FwCfg : IPortDevice
{
    /// <summary>The selector (offset 0, 16-bit) and the data port (offset 1, 8-bit).</summary>
    public const int PortCount = 2;
    public const ushort SignatureKey = 0x00, IdKey = 0x01, UuidKey = 0x02, RamSizeKey = 0x03, NoGraphicKey = 0x04,
        CpuCountKey = 0x05, MaxCpusKey = 0x0F, MaxRamKey = 0x11, FileDirKey = 0x19;

    private const ushort WriteChannelBit = 0x4000;
    private const ushort SelectorOffset = 0, DataOffset = 1;

    private readonly Dictionary<ushort, byte[]> _items = new();
    private byte[] _selected = [];
    private int _position;

    /// <param name="cpuCount">Reported as item 0x05 (u16) and 0x0f.</param>
    /// <param name="ramSize">Guest RAM in bytes, item 0x03 (u64).</param>
    /// <param name="ramLimit">Item 0x11 (u64): kvm-unit-tests uses no RAM at or above it; 0 means no limit.</param>
    public FwCfg(int cpuCount, ulong ramSize, ulong ramLimit = 0)
    {
        SetItem(SignatureKey, Encoding.ASCII.GetBytes("QEMU"));
        SetItem(IdKey, LittleEndian32(1));                  // traditional interface, no DMA
        SetItem(UuidKey, new byte[16]);
        SetItem(RamSizeKey, LittleEndian64(ramSize));
        SetItem(NoGraphicKey, LittleEndian16(1));
        SetItem(CpuCountKey, LittleEndian16((ushort)cpuCount));
        SetItem(MaxCpusKey, LittleEndian16((ushort)cpuCount));
        SetItem(MaxRamKey, LittleEndian64(ramLimit));
        SetItem(FileDirKey, new byte[4]);                   // big-endian count of named files: none
    }

    /// <summary>Add or replace an item (the bytes are copied).</summary>
    public void SetItem(ushort key, ReadOnlySpan<byte> data) => _items[key] = data.ToArray();

    public uint Read(ushort offset, int size)
    {
        if (offset != DataOffset || size != 1)
            return PortAccess.AllOnes(size);
        return _position < _selected.Length ? _selected[_position++] : 0u;
    }

    public void Write(ushort offset, int size, uint value)
    {
        // Writing item data through the data port is long deprecated in QEMU and ignored here too.
        if (offset != SelectorOffset || size != 2)
            return;
        var key = (ushort)(value & ~WriteChannelBit);
        _selected = _items.TryGetValue(key, out var item) ? item : [];
        _position = 0;
    }

    private static byte[] LittleEndian16(ushort value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, value);
        return bytes;
    }

    private static byte[] LittleEndian32(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        return bytes;
    }

    private static byte[] LittleEndian64(ulong value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return bytes;
    }
}
