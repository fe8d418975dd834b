using System.Buffers.Binary;

namespace Vessel.Devices.Pci;

/// <summary>The 256-byte configuration space of one PCI function (type 0 header). Every byte has a mask of the
/// bits the driver may write; the rest read back what the device put there. BARs are plain masked registers:
/// the low bits of a BAR of size S are read-only, so writing all ones reads back ~(S-1) | type, which is exactly
/// how Linux sizes them. Capabilities are appended into a linked list from 0x40. Safe from any thread.</summary>
public sealed class PciConfigSpace
{
    public const int Size = 256;
    public const int BarCount = 6;

    // Header offsets (PCI Local Bus 3.0, 6.1).
    public const int VendorId = 0x00, DeviceId = 0x02, Command = 0x04, Status = 0x06, RevisionId = 0x08,
        ClassCode = 0x09, HeaderType = 0x0E, Bar0 = 0x10, SubsystemVendorId = 0x2C, SubsystemId = 0x2E,
        CapabilitiesPointer = 0x34, InterruptLine = 0x3C, InterruptPin = 0x3D;

    public const ushort CommandIoSpace = 0x1, CommandMemorySpace = 0x2, CommandBusMaster = 0x4,
        CommandParityError = 0x40, CommandSerr = 0x100, CommandInterruptDisable = 0x400;
    public const ushort StatusCapabilitiesList = 0x10;

    private const int FirstCapability = 0x40;
    private const uint BarMemory64 = 0x4, BarPrefetchable = 0x8;

    private readonly Lock _lock = new();
    private readonly byte[] _bytes = new byte[Size];
    private readonly byte[] _writable = new byte[Size];
    private readonly PciBar?[] _bars = new PciBar?[BarCount];
    private int _nextCapability = FirstCapability;
    private int _lastCapability;

    public PciConfigSpace(ushort vendorId, ushort deviceId, uint classCode, byte revision = 0,
        ushort subsystemVendorId = 0, ushort subsystemId = 0)
    {
        Put16(VendorId, vendorId);
        Put16(DeviceId, deviceId);
        _bytes[RevisionId] = revision;
        _bytes[ClassCode] = (byte)classCode;
        _bytes[ClassCode + 1] = (byte)(classCode >> 8);
        _bytes[ClassCode + 2] = (byte)(classCode >> 16);
        Put16(SubsystemVendorId, subsystemVendorId);
        Put16(SubsystemId, subsystemId);
        SetWritable(Command, 2, CommandIoSpace | CommandMemorySpace | CommandBusMaster | CommandParityError |
            CommandSerr | CommandInterruptDisable);
        _writable[InterruptLine] = 0xFF;
    }

    /// <summary>The function's interrupt pin (1 = INTA .. 4 = INTD; 0 = none).</summary>
    public byte Pin
    {
        get => Read8(InterruptPin);
        init => _bytes[InterruptPin] = value;
    }

    public PciBar? Bar(int index) => _bars[index];

    /// <summary>Declares a memory BAR of <paramref name="size"/> bytes (a power of two, at least 16; a 64-bit BAR
    /// also takes slot index + 1).</summary>
    public void AddMemoryBar(int index, ulong size, bool is64Bit = false, bool prefetchable = false)
    {
        if (index < 0 || index >= BarCount || (is64Bit && index == BarCount - 1))
            throw new ArgumentOutOfRangeException(nameof(index), $"BAR {index} does not exist{(is64Bit ? " for a 64-bit BAR" : "")}");
        if (size < 16 || !ulong.IsPow2(size) || (!is64Bit && size > 1UL << 31))
            throw new ArgumentOutOfRangeException(nameof(size), $"BAR size 0x{size:x} is not a power of two in range");
        if (_bars[index] is not null || (is64Bit && _bars[index + 1] is not null))
            throw new InvalidOperationException($"BAR {index} is already declared");
        var bar = new PciBar(index, size, is64Bit, prefetchable);
        _bars[index] = bar;
        if (is64Bit) _bars[index + 1] = bar;
        int offset = Bar0 + index * 4;
        uint type = (is64Bit ? BarMemory64 : 0) | (prefetchable ? BarPrefetchable : 0);
        Put32(offset, type);
        ulong mask = ~(size - 1);
        SetWritable(offset, 4, (uint)mask & 0xFFFF_FFF0);
        if (is64Bit) SetWritable(offset + 4, 4, (uint)(mask >> 32));
    }

    /// <summary>The address BAR <paramref name="index"/> holds now (the value the driver or the firmware wrote).</summary>
    public ulong BarAddress(int index)
    {
        var bar = _bars[index] ?? throw new ArgumentOutOfRangeException(nameof(index), $"BAR {index} is not declared");
        int offset = Bar0 + bar.Index * 4;
        lock (_lock)
        {
            ulong low = BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(offset)) & 0xFFFF_FFF0u;
            ulong high = bar.Is64Bit ? BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(offset + 4)) : 0;
            return high << 32 | low;
        }
    }

    /// <summary>What firmware does before the OS runs: places BAR <paramref name="index"/> at
    /// <paramref name="address"/> (aligned to its size).</summary>
    public void AssignBar(int index, ulong address)
    {
        var bar = _bars[index] ?? throw new ArgumentOutOfRangeException(nameof(index), $"BAR {index} is not declared");
        if ((address & (bar.Size - 1)) != 0 || (!bar.Is64Bit && address + bar.Size > 1UL << 32))
            throw new ArgumentOutOfRangeException(nameof(address), $"0x{address:x} does not suit BAR {index} of size 0x{bar.Size:x}");
        int offset = Bar0 + bar.Index * 4;
        lock (_lock)
        {
            uint type = _bytes[offset] & 0xFu;
            Put32(offset, (uint)address | type);
            if (bar.Is64Bit) Put32(offset + 4, (uint)(address >> 32));
        }
    }

    public bool MemoryDecode => (Read16(Command) & CommandMemorySpace) != 0;
    public bool InterruptDisabled => (Read16(Command) & CommandInterruptDisable) != 0;

    /// <summary>Appends a capability with <paramref name="id"/> and <paramref name="body"/> (the bytes after the
    /// ID and next pointer); <paramref name="writableBody"/> gives the driver-writable bits of each body byte.
    /// Returns the capability's offset.</summary>
    public int AddCapability(byte id, ReadOnlySpan<byte> body, ReadOnlySpan<byte> writableBody = default)
    {
        int length = 2 + body.Length;
        int offset = _nextCapability;
        if (offset + length > Size) throw new InvalidOperationException("configuration space is full");
        if (writableBody.Length > body.Length) throw new ArgumentException("more write masks than body bytes", nameof(writableBody));
        lock (_lock)
        {
            _bytes[offset] = id;
            _bytes[offset + 1] = 0;
            body.CopyTo(_bytes.AsSpan(offset + 2));
            writableBody.CopyTo(_writable.AsSpan(offset + 2));
            if (_lastCapability == 0)
            {
                _bytes[CapabilitiesPointer] = (byte)offset;
                Put16(Status, (ushort)(Read16Unlocked(Status) | StatusCapabilitiesList));
            }
            else
            {
                _bytes[_lastCapability + 1] = (byte)offset;
            }
            _lastCapability = offset;
            _nextCapability = (offset + length + 3) & ~3;
        }
        return offset;
    }

    /// <summary>A driver read of <paramref name="size"/> (1, 2 or 4) bytes at <paramref name="offset"/>; an
    /// access that crosses the end of the space reads the bytes inside it and zeros beyond.</summary>
    public uint Read(int offset, int size)
    {
        uint value = 0;
        lock (_lock)
            for (int i = 0; i < size && offset + i < Size; i++)
                value |= (uint)_bytes[offset + i] << (8 * i);
        return value;
    }

    /// <summary>A driver write: only the writable bits of each byte change.</summary>
    public void Write(int offset, int size, uint value)
    {
        lock (_lock)
            for (int i = 0; i < size && offset + i < Size; i++)
            {
                byte mask = _writable[offset + i];
                byte data = (byte)(value >> (8 * i));
                _bytes[offset + i] = (byte)((_bytes[offset + i] & ~mask) | (data & mask));
            }
    }

    public byte Read8(int offset) => (byte)Read(offset, 1);
    public ushort Read16(int offset) => (ushort)Read(offset, 2);
    public uint Read32(int offset) => Read(offset, 4);

    /// <summary>A device-side store that ignores the write masks (state the device itself changes).</summary>
    public void SetDeviceBits16(int offset, ushort clear, ushort set)
    {
        lock (_lock) Put16(offset, (ushort)((Read16Unlocked(offset) & ~clear) | set));
    }

    private ushort Read16Unlocked(int offset) => BinaryPrimitives.ReadUInt16LittleEndian(_bytes.AsSpan(offset));
    private void Put16(int offset, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan(offset), value);
    private void Put32(int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(_bytes.AsSpan(offset), value);

    private void SetWritable(int offset, int length, uint mask)
    {
        for (int i = 0; i < length; i++) _writable[offset + i] = (byte)(mask >> (8 * i));
    }
}

/// <summary>A memory BAR as the device declared it. A 64-bit BAR occupies slots <see cref="Index"/> and Index+1.</summary>
public sealed record PciBar(int Index, ulong Size, bool Is64Bit, bool Prefetchable);
