using System.Buffers.Binary;

namespace Vessel.Testing;

/// <summary>Writes small ELF32/ELF64 executables: header, program headers, then each segment's bytes.</summary>
public sealed class ElfBuilder(bool is64)
{
    public sealed record Segment(ulong PhysicalAddress, byte[] Data, ulong MemorySize, ulong VirtualAddress, uint Type = 1);

    private readonly List<Segment> _segments = [];
    public ulong Entry { get; set; }
    public ushort? Machine { get; set; }
    public ushort Type { get; set; } = 2;

    public ElfBuilder Add(ulong physicalAddress, byte[] data, ulong? memorySize = null, ulong? virtualAddress = null, uint type = 1)
    {
        _segments.Add(new Segment(physicalAddress, data, memorySize ?? (ulong)data.Length, virtualAddress ?? physicalAddress, type));
        return this;
    }

    public int HeaderSize => is64 ? 64 : 52;
    public int PhdrSize => is64 ? 56 : 32;
    /// <summary>File offset of segment <paramref name="index"/>'s bytes.</summary>
    public int DataOffset(int index) => HeaderSize + PhdrSize * _segments.Count + _segments.Take(index).Sum(s => s.Data.Length);

    public byte[] Build()
    {
        var file = new byte[DataOffset(_segments.Count)];
        var f = file.AsSpan();
        f[0] = 0x7F; f[1] = (byte)'E'; f[2] = (byte)'L'; f[3] = (byte)'F';
        f[4] = (byte)(is64 ? 2 : 1); f[5] = 1; f[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(f[16..], Type);
        BinaryPrimitives.WriteUInt16LittleEndian(f[18..], Machine ?? (ushort)(is64 ? 62 : 3));
        BinaryPrimitives.WriteUInt32LittleEndian(f[20..], 1);
        if (is64)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(f[24..], Entry);
            BinaryPrimitives.WriteUInt64LittleEndian(f[32..], (ulong)HeaderSize);
            BinaryPrimitives.WriteUInt16LittleEndian(f[52..], (ushort)HeaderSize);
            BinaryPrimitives.WriteUInt16LittleEndian(f[54..], (ushort)PhdrSize);
            BinaryPrimitives.WriteUInt16LittleEndian(f[56..], (ushort)_segments.Count);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(f[24..], (uint)Entry);
            BinaryPrimitives.WriteUInt32LittleEndian(f[28..], (uint)HeaderSize);
            BinaryPrimitives.WriteUInt16LittleEndian(f[40..], (ushort)HeaderSize);
            BinaryPrimitives.WriteUInt16LittleEndian(f[42..], (ushort)PhdrSize);
            BinaryPrimitives.WriteUInt16LittleEndian(f[44..], (ushort)_segments.Count);
        }
        for (int i = 0; i < _segments.Count; i++)
        {
            var s = _segments[i];
            var ph = f[(HeaderSize + i * PhdrSize)..];
            int offset = DataOffset(i);
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
        }
        return file;
    }
}
