using System.Buffers.Binary;

namespace Vessel.Virtio.Net;

/// <summary>
/// TCP segmentation in the device (VIRTIO_NET_F_HOST_TSO4/6 towards a backend of plain frames, passt): the guest hands
/// over one TCP packet of up to 64 KiB with gso_size set, and this cuts it into the segments a NIC with TSO would put
/// on the wire, each with its own IP length (and IPv4 id and header checksum), sequence number, flags and a complete
/// TCP checksum. The guest then pays its per-packet work once per 64 KiB; the host does the cutting and summing.
/// The headers are parsed from the frame itself: the vnet header's hdr_len and csum fields are the guest's word and
/// are not needed. No allocation: each segment is built in a buffer the caller owns.
/// </summary>
public static class TcpSegmenter
{
    private const int EthernetBytes = 14, Ipv6Bytes = 40, TcpMinBytes = 20, TcpProtocol = 6;
    private const byte TcpFin = 0x01, TcpPush = 0x08, TcpCwr = 0x80;

    /// <summary>Checks <paramref name="frame"/> (Ethernet, IPv4 or IPv6, TCP with payload) as one packet to cut into
    /// segments of <paramref name="segmentBytes"/> payload bytes whose frames are at most
    /// <paramref name="maxSegmentFrame"/> bytes. Returns the header bytes (Ethernet + IP + TCP), or -1 if the frame is
    /// not such a packet (the caller drops it: a NIC cannot segment it either).</summary>
    public static int Headers(ReadOnlySpan<byte> frame, bool ipv6, int segmentBytes, int maxSegmentFrame)
    {
        if (segmentBytes <= 0 || frame.Length < EthernetBytes + (ipv6 ? Ipv6Bytes : 20) + TcpMinBytes)
            return -1;
        ushort etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[12..]);
        var ip = frame[EthernetBytes..];
        int ipBytes;
        if (ipv6)
        {
            if (etherType != 0x86dd || ip[0] >> 4 != 6 || ip[6] != TcpProtocol)
                return -1;
            ipBytes = Ipv6Bytes;
        }
        else
        {
            ipBytes = (ip[0] & 0x0f) * 4;
            if (etherType != 0x0800 || ip[0] >> 4 != 4 || ipBytes < 20 || ip[9] != TcpProtocol ||
                (BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & 0x3fff) != 0) // a fragment cannot be segmented
                return -1;
        }
        if (frame.Length < EthernetBytes + ipBytes + TcpMinBytes)
            return -1;
        int tcpBytes = (ip[ipBytes + 12] >> 4) * 4;
        int headers = EthernetBytes + ipBytes + tcpBytes;
        if (tcpBytes < TcpMinBytes || frame.Length <= headers || headers + segmentBytes > maxSegmentFrame)
            return -1;
        return headers;
    }

    /// <summary>How many segments <paramref name="frame"/> becomes (after <see cref="Headers"/> accepted it).</summary>
    public static int Count(int frameBytes, int headers, int segmentBytes) => (frameBytes - headers + segmentBytes - 1) / segmentBytes;

    /// <summary>Builds segment <paramref name="index"/> of <paramref name="frame"/> into <paramref name="segment"/>
    /// (at least headers + segmentBytes long); returns its length.</summary>
    public static int Build(ReadOnlySpan<byte> frame, bool ipv6, int headers, int segmentBytes, int index, Span<byte> segment)
    {
        int payloadBytes = frame.Length - headers;
        int offset = index * segmentBytes;
        int take = Math.Min(segmentBytes, payloadBytes - offset);
        bool first = index == 0, last = offset + take == payloadBytes;
        frame[..headers].CopyTo(segment);
        frame.Slice(headers + offset, take).CopyTo(segment[headers..]);
        int length = headers + take;

        var ip = segment[EthernetBytes..];
        int ipBytes = ipv6 ? Ipv6Bytes : (ip[0] & 0x0f) * 4;
        int tcpLength = length - EthernetBytes - ipBytes;
        if (ipv6)
            BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)tcpLength);
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(ipBytes + tcpLength));
            BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)(BinaryPrimitives.ReadUInt16BigEndian(ip[4..]) + index));
            ip[10] = ip[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(ip[10..], (ushort)~Fold(Sum(ip[..ipBytes])));
        }

        var tcp = ip[ipBytes..];
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]) + (uint)offset);
        if (!last)
            tcp[13] &= unchecked((byte)~(TcpFin | TcpPush));
        if (!first)
            tcp[13] &= unchecked((byte)~TcpCwr);
        tcp[16] = tcp[17] = 0;
        ulong sum = (ulong)TcpProtocol + (uint)tcpLength + (ipv6 ? Sum(ip.Slice(8, 32)) : Sum(ip.Slice(12, 8))) + Sum(tcp[..tcpLength]);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], (ushort)~Fold(sum));
        return length;
    }

    /// <summary>The ones'-complement sum of <paramref name="data"/> as big-endian 16-bit words, not yet folded: eight
    /// bytes at a time (each 64-bit word's four 16-bit lanes summed), then the tail.</summary>
    private static ulong Sum(ReadOnlySpan<byte> data)
    {
        ulong sum = 0;
        int at = 0;
        for (; at + 8 <= data.Length; at += 8)
        {
            ulong w = BinaryPrimitives.ReadUInt64BigEndian(data[at..]);
            sum += (w >> 48) + ((w >> 32) & 0xffff) + ((w >> 16) & 0xffff) + (w & 0xffff);
        }
        for (; at + 2 <= data.Length; at += 2)
            sum += BinaryPrimitives.ReadUInt16BigEndian(data[at..]);
        if (at < data.Length)
            sum += (uint)data[at] << 8;
        return sum;
    }

    private static ushort Fold(ulong sum)
    {
        while (sum > 0xffff)
            sum = (sum & 0xffff) + (sum >> 16);
        return (ushort)sum;
    }
}
