using System.Buffers.Binary;

namespace Vessel.Virtio.Net;

/// <summary>
/// Receive coalescing for a backend of plain frames (passt): consecutive in-order IPv4 TCP segments of one connection
/// already waiting in the <see cref="FrameRing"/> go to the guest as one GSO frame (VIRTIO_NET_F_GUEST_TSO4: gso_size
/// the segments' size, the TCP checksum partial), what Linux's GRO does in a NIC. The guest's stack then pays its
/// per-packet costs (driver, IP, TCP, the ACK it sends back) once per 64 KiB instead of once per segment, which on the
/// emulated CPU is most of what a segment costs. Only frames already queued are merged: none waits for another.
/// Segments merge only when everything but seq and payload (and PSH and the window on the last) is the same and each
/// but the last carries exactly gso_size bytes, so splitting the result again gives back the segments sent.
/// </summary>
public static class TcpCoalescer
{
    private const int EthernetBytes = 14, IpBytes = 20, TcpChecksumOffset = 16;
    private const byte TcpAck = 0x10, TcpPush = 0x08;
    private const byte TcpFlagsBlockingMerge = 0x01 | 0x02 | 0x04 | 0x20 | 0x40 | 0x80; // FIN SYN RST URG ECE CWR

    /// <summary>Merges the frames at the ring's head into <paramref name="merged"/>. Returns how many ring frames it
    /// holds, or 1 when the first frame goes alone (then <paramref name="merged"/> is untouched). For a merge:
    /// <paramref name="length"/> is the merged frame's, <paramref name="segmentBytes"/> the gso_size and
    /// <paramref name="headerBytes"/> Ethernet + IP + TCP headers; the TCP checksum holds the pseudo-header's sum,
    /// to be completed from byte <see cref="ChecksumStart"/> (<see cref="ChecksumOffset"/> in).</summary>
    public static int Merge(FrameRing ring, Span<byte> merged, out int length, out ushort segmentBytes, out int headerBytes)
    {
        length = 0;
        segmentBytes = 0;
        headerBytes = 0;
        if (!ring.TryPeekAt(0, out var first) || !IsTcpSegment(first, out int tcpBytes, out int payload) ||
            (first[EthernetBytes + IpBytes + 13] & TcpPush) != 0)
            return 1;
        int headers = EthernetBytes + IpBytes + tcpBytes;
        uint nextSeq = Seq(first) + (uint)payload;
        int total = headers + payload, count = 1;
        byte lastFlags = first[EthernetBytes + IpBytes + 13];
        ushort lastWindow = BinaryPrimitives.ReadUInt16BigEndian(first[(EthernetBytes + IpBytes + 14)..]);
        while (ring.TryPeekAt(count, out var next) && IsTcpSegment(next, out int nextTcp, out int nextPayload) &&
               nextTcp == tcpBytes && nextPayload <= payload && SameConnection(first, next, headers) &&
               Seq(next) == nextSeq && total + nextPayload - EthernetBytes <= ushort.MaxValue &&
               total + nextPayload <= merged.Length)
        {
            if (count == 1)
                first[..total].CopyTo(merged);
            next[headers..].CopyTo(merged[total..]);
            total += nextPayload;
            nextSeq += (uint)nextPayload;
            count++;
            lastFlags = next[EthernetBytes + IpBytes + 13];
            lastWindow = BinaryPrimitives.ReadUInt16BigEndian(next[(EthernetBytes + IpBytes + 14)..]);
            if (nextPayload < payload || (lastFlags & TcpPush) != 0)
                break;
        }
        if (count == 1)
            return 1;
        var frame = merged[..total];
        BinaryPrimitives.WriteUInt16BigEndian(frame[(EthernetBytes + 2)..], (ushort)(total - EthernetBytes));
        SetIpChecksum(frame.Slice(EthernetBytes, IpBytes));
        frame[EthernetBytes + IpBytes + 13] |= (byte)(lastFlags & TcpPush);
        BinaryPrimitives.WriteUInt16BigEndian(frame[(EthernetBytes + IpBytes + 14)..], lastWindow);
        SetPseudoHeaderSum(frame, total - EthernetBytes - IpBytes);
        length = total;
        segmentBytes = (ushort)payload;
        headerBytes = headers;
        return count;
    }

    /// <summary>csum_start of a merged frame: the TCP header.</summary>
    public const int ChecksumStart = EthernetBytes + IpBytes;

    /// <summary>csum_offset of a merged frame: TCP's checksum field.</summary>
    public const int ChecksumOffset = TcpChecksumOffset;

    /// <summary>IPv4 without options or fragmentation, carrying TCP with ACK and data and none of SYN, FIN, RST, URG,
    /// ECE, CWR; the IP length matches the frame (no padding).</summary>
    private static bool IsTcpSegment(ReadOnlySpan<byte> frame, out int tcpBytes, out int payload)
    {
        tcpBytes = payload = 0;
        if (frame.Length < EthernetBytes + IpBytes + 20 || frame[12] != 0x08 || frame[13] != 0x00)
            return false;
        var ip = frame[EthernetBytes..];
        if (ip[0] != 0x45 || ip[9] != 6 || (BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & 0x3fff) != 0 ||
            BinaryPrimitives.ReadUInt16BigEndian(ip[2..]) != frame.Length - EthernetBytes)
            return false;
        var tcp = ip[IpBytes..];
        tcpBytes = (tcp[12] >> 4) * 4;
        payload = tcp.Length - tcpBytes;
        return tcpBytes >= 20 && payload > 0 && (tcp[13] & TcpAck) != 0 && (tcp[13] & TcpFlagsBlockingMerge) == 0;
    }

    /// <summary>Same MACs, IP header but for length, id and checksum, ports, ack number and TCP options.</summary>
    private static bool SameConnection(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, int headers)
    {
        const int Ip = EthernetBytes, Tcp = EthernetBytes + IpBytes;
        return a[..12].SequenceEqual(b[..12]) &&
               a[Ip + 1] == b[Ip + 1] &&                                   // TOS
               a[Ip + 6] == b[Ip + 6] &&                                   // DF (fragments were refused)
               a.Slice(Ip + 8, 2).SequenceEqual(b.Slice(Ip + 8, 2)) &&     // TTL, protocol
               a.Slice(Ip + 12, 8).SequenceEqual(b.Slice(Ip + 12, 8)) &&   // addresses
               a.Slice(Tcp, 4).SequenceEqual(b.Slice(Tcp, 4)) &&           // ports
               a.Slice(Tcp + 8, 4).SequenceEqual(b.Slice(Tcp + 8, 4)) &&   // ack number
               a[(Tcp + 20)..headers].SequenceEqual(b[(Tcp + 20)..headers]); // options
    }

    private static uint Seq(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadUInt32BigEndian(frame[(EthernetBytes + IpBytes + 4)..]);

    private static void SetIpChecksum(Span<byte> ip)
    {
        ip[10] = ip[11] = 0;
        uint sum = 0;
        for (int i = 0; i < IpBytes; i += 2)
            sum += BinaryPrimitives.ReadUInt16BigEndian(ip[i..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], (ushort)~Fold(sum));
    }

    /// <summary>A partial checksum as Linux leaves one (CHECKSUM_PARTIAL): the folded sum of the pseudo-header
    /// (addresses, protocol, TCP length), not complemented.</summary>
    private static void SetPseudoHeaderSum(Span<byte> frame, int tcpLength)
    {
        uint sum = 6 + (uint)tcpLength;
        for (int i = EthernetBytes + 12; i < EthernetBytes + IpBytes; i += 2)
            sum += BinaryPrimitives.ReadUInt16BigEndian(frame[i..]);
        BinaryPrimitives.WriteUInt16BigEndian(frame[(ChecksumStart + TcpChecksumOffset)..], Fold(sum));
    }

    private static ushort Fold(uint sum)
    {
        while (sum > 0xffff)
            sum = (sum & 0xffff) + (sum >> 16);
        return (ushort)sum;
    }
}
