using System.Buffers.Binary;

namespace Vessel.Fuzz;

/// <summary>Writes a small ELF32/ELF64 executable: header, program headers, then each segment's bytes.</summary>
public sealed class ElfWriter(bool is64)
{
    private readonly record struct Segment(uint Type, ulong PhysicalAddress, ulong VirtualAddress, byte[] Data, ulong MemorySize);

    private readonly List<Segment> _segments = [];

    public ulong Entry { get; init; }

    public ElfWriter Add(ulong physicalAddress, byte[] data, ulong? memorySize = null, ulong? virtualAddress = null, uint type = 1)
    {
        _segments.Add(new Segment(type, physicalAddress, virtualAddress ?? physicalAddress, data, memorySize ?? (ulong)data.Length));
        return this;
    }

    public byte[] Build()
    {
        int headerSize = is64 ? 64 : 52, phdrSize = is64 ? 56 : 32;
        int dataStart = headerSize + phdrSize * _segments.Count;
        var file = new byte[dataStart + _segments.Sum(s => s.Data.Length)];
        var f = file.AsSpan();
        "\x7F"u8.CopyTo(f);
        "ELF"u8.CopyTo(f[1..]);
        f[4] = (byte)(is64 ? 2 : 1);
        f[5] = 1;
        f[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(f[16..], 2);                      // ET_EXEC
        BinaryPrimitives.WriteUInt16LittleEndian(f[18..], (ushort)(is64 ? 62 : 3)); // x86-64 / i386
        BinaryPrimitives.WriteUInt32LittleEndian(f[20..], 1);
        if (is64)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(f[24..], Entry);
            BinaryPrimitives.WriteUInt64LittleEndian(f[32..], (ulong)headerSize);
            BinaryPrimitives.WriteUInt16LittleEndian(f[52..], (ushort)headerSize);
            BinaryPrimitives.WriteUInt16LittleEndian(f[54..], (ushort)phdrSize);
            BinaryPrimitives.WriteUInt16LittleEndian(f[56..], (ushort)_segments.Count);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(f[24..], (uint)Entry);
            BinaryPrimitives.WriteUInt32LittleEndian(f[28..], (uint)headerSize);
            BinaryPrimitives.WriteUInt16LittleEndian(f[40..], (ushort)headerSize);
            BinaryPrimitives.WriteUInt16LittleEndian(f[42..], (ushort)phdrSize);
            BinaryPrimitives.WriteUInt16LittleEndian(f[44..], (ushort)_segments.Count);
        }
        int offset = dataStart;
        for (int i = 0; i < _segments.Count; i++)
        {
            var s = _segments[i];
            var ph = f[(headerSize + i * phdrSize)..];
            BinaryPrimitives.WriteUInt32LittleEndian(ph, s.Type);
            if (is64)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(ph[8..], (ulong)offset);
                BinaryPrimitives.WriteUInt64LittleEndian(ph[16..], s.VirtualAddress);
                BinaryPrimitives.WriteUInt64LittleEndian(ph[24..], s.PhysicalAddress);
                BinaryPrimitives.WriteUInt64LittleEndian(ph[32..], (ulong)s.Data.Length);
                BinaryPrimitives.WriteUInt64LittleEndian(ph[40..], s.MemorySize);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(ph[4..], (uint)offset);
                BinaryPrimitives.WriteUInt32LittleEndian(ph[8..], (uint)s.VirtualAddress);
                BinaryPrimitives.WriteUInt32LittleEndian(ph[12..], (uint)s.PhysicalAddress);
                BinaryPrimitives.WriteUInt32LittleEndian(ph[16..], (uint)s.Data.Length);
                BinaryPrimitives.WriteUInt32LittleEndian(ph[20..], (uint)s.MemorySize);
            }
            s.Data.CopyTo(f[offset..]);
            offset += s.Data.Length;
        }
        return file;
    }
}
