using System.Buffers.Binary;

namespace Vessel.Devices.Pci;

/// <summary>MSI-X for one function: the capability in its configuration space, and the vector table and
/// pending-bit array the capability points into (both inside one BAR, which the function routes here).
/// A vector fires (<see cref="IMsiVectors.Fire"/>) unless the function or the entry is masked; then its pending
/// bit is set, and it fires when both masks clear. An entry is routed (<see cref="IMsiVectors.Route"/>) when it is
/// unmasked, when its message is rewritten while unmasked, and when MSI-X is enabled or the function unmasked.
/// Safe from any thread.</summary>
public sealed class MsixTable
{
    public const byte CapabilityId = 0x11;
    public const int EntrySize = 16;
    public const int MaxVectors = 2048;

    private const ushort ControlEnable = 0x8000, ControlFunctionMask = 0x4000;
    private const uint EntryMasked = 1;

    private readonly Lock _lock = new();
    private readonly PciConfigSpace _config;
    private readonly IMsiVectors _vectors;
    private readonly uint[] _entries;
    private readonly ulong[] _pending;

    /// <param name="config">the function's configuration space; the capability is appended to it</param>
    /// <param name="vectorCount">table entries (1-2048)</param>
    /// <param name="bar">the BAR holding table and PBA</param>
    /// <param name="tableOffset">the table's offset in that BAR (8-byte aligned)</param>
    /// <param name="pbaOffset">the PBA's offset in that BAR (8-byte aligned, after the table)</param>
    /// <param name="signal">sends one message: (address, data)</param>
    public MsixTable(PciConfigSpace config, int vectorCount, int bar, uint tableOffset, uint pbaOffset, Action<ulong, uint> signal)
        : this(config, vectorCount, bar, tableOffset, pbaOffset, new MsiMessageSender(signal))
    {
    }

    /// <param name="vectors">routes and raises the vectors</param>
    public MsixTable(PciConfigSpace config, int vectorCount, int bar, uint tableOffset, uint pbaOffset, IMsiVectors vectors)
    {
        if (vectorCount < 1 || vectorCount > MaxVectors) throw new ArgumentOutOfRangeException(nameof(vectorCount));
        if ((tableOffset | pbaOffset) % 8 != 0 || pbaOffset < tableOffset + (uint)(vectorCount * EntrySize))
            throw new ArgumentException("the MSI-X table and PBA must be 8-byte aligned and apart");
        _config = config;
        _vectors = vectors;
        VectorCount = vectorCount;
        TableOffset = tableOffset;
        PbaOffset = pbaOffset;
        _entries = new uint[vectorCount * 4];
        _pending = new ulong[(vectorCount + 63) / 64];
        for (int v = 0; v < vectorCount; v++) _entries[v * 4 + 3] = EntryMasked;

        Span<byte> body = stackalloc byte[10];
        BinaryPrimitives.WriteUInt16LittleEndian(body, (ushort)(vectorCount - 1));
        BinaryPrimitives.WriteUInt32LittleEndian(body[2..], tableOffset | (uint)bar);
        BinaryPrimitives.WriteUInt32LittleEndian(body[6..], pbaOffset | (uint)bar);
        Span<byte> writable = stackalloc byte[10];
        writable[1] = (byte)((ControlEnable | ControlFunctionMask) >> 8);
        CapabilityOffset = config.AddCapability(CapabilityId, body, writable);
    }

    public int VectorCount { get; }
    public uint TableOffset { get; }
    public uint PbaOffset { get; }
    public int CapabilityOffset { get; }

    /// <summary>Bytes of BAR the table and PBA cover from <see cref="TableOffset"/>.</summary>
    public ulong PbaLength => (ulong)_pending.Length * 8;

    private ushort Control => _config.Read16(CapabilityOffset + 2);
    public bool Enabled => (Control & ControlEnable) != 0;
    public bool FunctionMasked => (Control & ControlFunctionMask) != 0;

    public bool IsPending(int vector)
    {
        lock (_lock) return (_pending[vector / 64] & 1UL << (vector % 64)) != 0;
    }

    public bool IsMasked(int vector)
    {
        lock (_lock) return (_entries[vector * 4 + 3] & EntryMasked) != 0;
    }

    /// <summary>Whether <paramref name="offset"/> (in the BAR) falls in the table or the PBA.</summary>
    public bool Claims(ulong offset) =>
        (offset >= TableOffset && offset < TableOffset + (ulong)_entries.Length * 4) ||
        (offset >= PbaOffset && offset < PbaOffset + PbaLength);

    /// <summary>Raises <paramref name="vector"/>: sent now, or left pending while masked. Out-of-range vectors
    /// are ignored (the driver picked them; they reach nothing).</summary>
    public void Notify(int vector)
    {
        if ((uint)vector >= (uint)VectorCount) return;
        bool functionMasked = FunctionMasked;
        lock (_lock)
        {
            if (functionMasked || (_entries[vector * 4 + 3] & EntryMasked) != 0)
            {
                _pending[vector / 64] |= 1UL << (vector % 64);
                return;
            }
            Send(vector);
        }
    }

    /// <summary>A read of the table or PBA (4 or 8 bytes, aligned as the spec asks; anything else reads 0).</summary>
    public ulong Read(ulong offset, int size)
    {
        if (size is not (4 or 8) || offset % (ulong)size != 0) return 0;
        lock (_lock)
        {
            if (offset >= PbaOffset)
            {
                ulong index = (offset - PbaOffset) / 8;
                if (index >= (ulong)_pending.Length) return 0;
                ulong qword = _pending[index];
                return size == 8 ? qword : (uint)(qword >> (int)((offset % 8) * 8));
            }
            ulong dword = (offset - TableOffset) / 4;
            if (offset < TableOffset || dword >= (ulong)_entries.Length) return 0;
            ulong value = _entries[dword];
            if (size == 8 && dword + 1 < (ulong)_entries.Length) value |= (ulong)_entries[dword + 1] << 32;
            return value;
        }
    }

    /// <summary>A write of the table (the PBA is read-only). Unmasking an entry with its bit pending sends it.</summary>
    public void Write(ulong offset, int size, ulong value)
    {
        if (size is not (4 or 8) || offset % (ulong)size != 0 || offset < TableOffset) return;
        bool functionMasked = FunctionMasked;
        lock (_lock)
        {
            ulong dword = (offset - TableOffset) / 4;
            for (int i = 0; i < size / 4; i++, dword++, value >>= 32)
            {
                if (dword >= (ulong)_entries.Length) return;
                uint old = _entries[dword];
                _entries[dword] = dword % 4 == 3 ? (uint)value & EntryMasked : (uint)value;
                int vector = (int)(dword / 4);
                bool unmasked = (_entries[vector * 4 + 3] & EntryMasked) == 0;
                if (unmasked && old != _entries[dword]) Route(vector);
                if (dword % 4 == 3 && !functionMasked) SendIfPendingAndUnmasked(vector);
            }
        }
    }

    /// <summary>The driver wrote the capability's control word: clearing the function mask sends what is pending.</summary>
    public void ControlWritten()
    {
        if (!Enabled || FunctionMasked) return;
        lock (_lock)
            for (int v = 0; v < VectorCount; v++)
            {
                if ((_entries[v * 4 + 3] & EntryMasked) == 0) Route(v);
                SendIfPendingAndUnmasked(v);
            }
    }

    /// <summary>Back to power-on state: every entry masked, nothing pending, MSI-X off.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            Array.Clear(_entries);
            Array.Clear(_pending);
            for (int v = 0; v < VectorCount; v++) _entries[v * 4 + 3] = EntryMasked;
        }
        _config.SetDeviceBits16(CapabilityOffset + 2, ControlEnable | ControlFunctionMask, 0);
    }

    private void SendIfPendingAndUnmasked(int vector)
    {
        ulong bit = 1UL << (vector % 64);
        if ((_pending[vector / 64] & bit) == 0 || (_entries[vector * 4 + 3] & EntryMasked) != 0) return;
        _pending[vector / 64] &= ~bit;
        Send(vector);
    }

    private void Send(int vector) => _vectors.Fire(vector, Address(vector), _entries[vector * 4 + 2]);

    private void Route(int vector) => _vectors.Route(vector, Address(vector), _entries[vector * 4 + 2]);

    private ulong Address(int vector) => _entries[vector * 4] | (ulong)_entries[vector * 4 + 1] << 32;
}
