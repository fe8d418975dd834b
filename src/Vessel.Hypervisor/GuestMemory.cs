using System.Buffers.Binary;

namespace Vessel.Hypervisor;

/// <summary>The guest-physical address space: RAM regions at guest-physical addresses. Every access is
/// bounds-checked; an address no region backs throws <see cref="GuestMemoryException"/>, never touches host memory.
/// Readers take a snapshot of the slot list, so lookups need no lock.</summary>
public sealed unsafe class GuestMemory
{
    public readonly record struct Slot(int Id, ulong GuestAddress, GuestMemoryRegion Region)
    {
        public ulong End => GuestAddress + Region.Size;
    }

    private volatile Slot[] _slots = [];
    private readonly Lock _writeLock = new();

    public IReadOnlyList<Slot> Slots => _slots;

    /// <summary>Raised after a write through this class's API (device DMA, loaders), with the guest-physical
    /// range; the emu CPU uses it to drop decoded code the write replaced.</summary>
    public event Action<ulong, ulong>? Written;

    public void Map(int slot, ulong guestAddress, GuestMemoryRegion region)
    {
        if (guestAddress % GuestMemoryRegion.PageSize != 0)
            throw new ArgumentException($"guest address 0x{guestAddress:x} is not page-aligned");
        lock (_writeLock)
        {
            var list = _slots.Where(s => s.Id != slot).ToList();
            ulong end = guestAddress + region.Size;
            foreach (var s in list)
                if (guestAddress < s.End && s.GuestAddress < end)
                    throw new ArgumentException($"memory slot {slot} at 0x{guestAddress:x} overlaps slot {s.Id}");
            list.Add(new Slot(slot, guestAddress, region));
            list.Sort((a, b) => a.GuestAddress.CompareTo(b.GuestAddress));
            _slots = [.. list];
        }
    }

    public void Unmap(int slot)
    {
        lock (_writeLock) _slots = [.. _slots.Where(s => s.Id != slot)];
    }

    /// <summary>Total bytes of RAM mapped.</summary>
    public ulong TotalSize => (ulong)_slots.Sum(s => (long)s.Region.Size);

    /// <summary>Host pointer for [address, address+length) if one region holds it all, else null.</summary>
    public byte* TryGetPointer(ulong address, ulong length)
    {
        var slots = _slots;
        for (int i = 0; i < slots.Length; i++)
        {
            ref readonly Slot s = ref slots[i];
            if (address >= s.GuestAddress && address - s.GuestAddress < s.Region.Size)
            {
                ulong off = address - s.GuestAddress;
                return length <= s.Region.Size - off ? s.Region.Pointer + off : null;
            }
        }
        return null;
    }

    public bool IsRam(ulong address, ulong length = 1) => TryGetPointer(address, length) != null;

    /// <summary>A span over guest RAM; the range must lie inside one region.</summary>
    public Span<byte> GetSpan(ulong address, int length)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length));
        byte* p = TryGetPointer(address, (ulong)length);
        if (p == null && length > 0) throw new GuestMemoryException(address, length);
        return new Span<byte>(p, length);
    }

    public void Read(ulong address, Span<byte> destination) => GetSpan(address, destination.Length).CopyTo(destination);

    public void Write(ulong address, ReadOnlySpan<byte> source)
    {
        source.CopyTo(GetSpan(address, source.Length));
        Written?.Invoke(address, (ulong)source.Length);
    }

    /// <summary>Reports a write made through a host pointer from <see cref="TryGetPointer"/> (device DMA straight
    /// into guest RAM), so listeners of <see cref="Written"/> see it as they see <see cref="Write"/>.</summary>
    public void MarkWritten(ulong address, ulong length)
    {
        if (length != 0)
            Written?.Invoke(address, length);
    }

    public void Fill(ulong address, int length, byte value)
    {
        GetSpan(address, length).Fill(value);
        Written?.Invoke(address, (ulong)length);
    }

    public byte ReadByte(ulong address) => GetSpan(address, 1)[0];
    public ushort ReadUInt16(ulong address) => BinaryPrimitives.ReadUInt16LittleEndian(GetSpan(address, 2));
    public uint ReadUInt32(ulong address) => BinaryPrimitives.ReadUInt32LittleEndian(GetSpan(address, 4));
    public ulong ReadUInt64(ulong address) => BinaryPrimitives.ReadUInt64LittleEndian(GetSpan(address, 8));

    public void WriteByte(ulong address, byte value) => Write(address, [value]);
    public void WriteUInt16(ulong address, ushort value) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, value); Write(address, b); }
    public void WriteUInt32(ulong address, uint value) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, value); Write(address, b); }
    public void WriteUInt64(ulong address, ulong value) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, value); Write(address, b); }
}

public sealed class GuestMemoryException(ulong address, long length)
    : Exception($"guest-physical range 0x{address:x}+{length} is not backed by RAM")
{
    public ulong Address { get; } = address;
    public long Length { get; } = length;
}
