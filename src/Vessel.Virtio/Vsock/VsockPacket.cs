using System.Buffers.Binary;

namespace Vessel.Virtio.Vsock;

public enum VsockOp : ushort
{
    Invalid = 0, Request = 1, Response = 2, Reset = 3, Shutdown = 4, ReadWrite = 5, CreditUpdate = 6, CreditRequest = 7,
}

/// <summary>struct virtio_vsock_hdr (virtio 1.x, 5.10.6), 44 bytes little-endian, as a value the device fills and
/// reads without allocating.</summary>
public struct VsockHeader
{
    public const int Size = 44;
    public const ushort TypeStream = 1;
    public const uint ShutdownReceive = 1, ShutdownSend = 2;
    public const ulong HostCid = 2;

    public ulong SourceCid, DestinationCid;
    public uint SourcePort, DestinationPort, Length;
    public ushort Type;
    public VsockOp Op;
    public uint Flags, BufferAllocation, ForwardCount;

    public static VsockHeader Read(ReadOnlySpan<byte> b) => new()
    {
        SourceCid = BinaryPrimitives.ReadUInt64LittleEndian(b),
        DestinationCid = BinaryPrimitives.ReadUInt64LittleEndian(b[8..]),
        SourcePort = BinaryPrimitives.ReadUInt32LittleEndian(b[16..]),
        DestinationPort = BinaryPrimitives.ReadUInt32LittleEndian(b[20..]),
        Length = BinaryPrimitives.ReadUInt32LittleEndian(b[24..]),
        Type = BinaryPrimitives.ReadUInt16LittleEndian(b[28..]),
        Op = (VsockOp)BinaryPrimitives.ReadUInt16LittleEndian(b[30..]),
        Flags = BinaryPrimitives.ReadUInt32LittleEndian(b[32..]),
        BufferAllocation = BinaryPrimitives.ReadUInt32LittleEndian(b[36..]),
        ForwardCount = BinaryPrimitives.ReadUInt32LittleEndian(b[40..]),
    };

    public readonly void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b, SourceCid);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], DestinationCid);
        BinaryPrimitives.WriteUInt32LittleEndian(b[16..], SourcePort);
        BinaryPrimitives.WriteUInt32LittleEndian(b[20..], DestinationPort);
        BinaryPrimitives.WriteUInt32LittleEndian(b[24..], Length);
        BinaryPrimitives.WriteUInt16LittleEndian(b[28..], Type);
        BinaryPrimitives.WriteUInt16LittleEndian(b[30..], (ushort)Op);
        BinaryPrimitives.WriteUInt32LittleEndian(b[32..], Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(b[36..], BufferAllocation);
        BinaryPrimitives.WriteUInt32LittleEndian(b[40..], ForwardCount);
    }
}
