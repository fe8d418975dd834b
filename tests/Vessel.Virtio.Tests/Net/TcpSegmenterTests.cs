using System.Buffers.Binary;
using Vessel.Virtio.Net;

namespace Vessel.Virtio.Tests.Net;

/// <summary>TSO in the device towards a passt-like backend (HOST_TSO4/6): the guest's 64 KiB TCP packet reaches the
/// backend as the segments a NIC would send, which a receiver checks and puts back together.</summary>
public sealed class TcpSegmenterTests
{
    private const int Tx = VirtioNet.TransmitQueue;
    private const int TcpBytes = 32; // with 12 bytes of options
    private const byte Ack = 0x10, Psh = 0x08, Fin = 0x01, Cwr = 0x80;
    private static readonly MacAddress TestMac = new(0x52, 0x54, 0x00, 0xab, 0xcd, 0xef);

    [Fact]
    public void Segmentation_is_offered_with_checksum_offload_only_to_a_local_stack()
    {
        using var passtLike = new VirtioNet(new FakeNetBackend(checksumsVerified: true), TestMac);
        Assert.Equal(NetFeatures.HostTso4 | NetFeatures.HostTso6 | NetFeatures.Csum,
            passtLike.OfferedFeatures & (NetFeatures.HostTso4 | NetFeatures.HostTso6 | NetFeatures.Csum));
        using var plain = new VirtioNet(new FakeNetBackend(), TestMac);
        Assert.Equal(0UL, plain.OfferedFeatures & (NetFeatures.HostTso4 | NetFeatures.HostTso6));
    }

    [Theory]
    [InlineData(false, 0, 1448, 64_000)]   // MTU 1500: 45 segments, the last short
    [InlineData(false, 32750, 32698, 65_000)] // passt's stream MTU: two segments
    [InlineData(true, 0, 1428, 10_000)]
    [InlineData(false, 0, 1448, 1448)]     // one full segment
    public void A_gso_packet_reaches_the_backend_as_checked_segments_that_rebuild_the_stream(bool ipv6, ushort mtu, int mss, int payload)
    {
        var backend = new FakeNetBackend(mtu: mtu, checksumsVerified: true);
        using var d = new FakeDriver(new VirtioNet(backend, TestMac));
        d.Activate();
        const uint seq = 0xfffff000; // wraps inside the packet
        var packet = Packet(ipv6, seq, payload, Ack | Psh | Fin | Cwr, id: 0xfff0);
        Send(d, GsoHeader(ipv6, mss), packet);

        var sent = backend.Sent;
        Assert.Equal((payload + mss - 1) / mss, sent.Count);
        var stream = new List<byte>();
        int ipBytes = ipv6 ? 40 : 20, headers = 14 + ipBytes + TcpBytes;
        for (int i = 0; i < sent.Count; i++)
        {
            var s = sent[i];
            bool last = i == sent.Count - 1;
            Assert.Equal(last ? headers + payload - i * mss : headers + mss, s.Length);
            Assert.Equal(packet[..14], s[..14]);
            if (ipv6)
                Assert.Equal(s.Length - 54, BinaryPrimitives.ReadUInt16BigEndian(s.AsSpan(18)));
            else
            {
                Assert.Equal(s.Length - 14, BinaryPrimitives.ReadUInt16BigEndian(s.AsSpan(16)));
                Assert.Equal((ushort)(0xfff0 + i), BinaryPrimitives.ReadUInt16BigEndian(s.AsSpan(18)));
                Assert.Equal(0xffff, Fold(Sum(s.AsSpan(14, 20))));
            }
            var tcp = s.AsSpan(14 + ipBytes);
            Assert.Equal(unchecked(seq + (uint)(i * mss)), BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]));
            byte flags = (byte)(Ack | (last ? Psh | Fin : 0) | (i == 0 ? Cwr : 0));
            Assert.Equal(flags, tcp[13]);
            Assert.Equal(packet.AsSpan(14 + ipBytes + 20, 12).ToArray(), tcp.Slice(20, 12).ToArray()); // options
            Assert.Equal(0xffff, Fold(PseudoHeader(s, ipv6) + Sum(tcp)));
            stream.AddRange(tcp[TcpBytes..].ToArray());
        }
        Assert.Equal(packet[headers..], stream.ToArray());
        Assert.Equal(0, ((VirtioNet)d.Device).Statistics.TransmitDrops);
    }

    [Fact]
    public void A_packet_whose_segments_exceed_the_mtu_or_that_is_not_tcp_is_dropped()
    {
        var backend = new FakeNetBackend(checksumsVerified: true);
        using var d = new FakeDriver(new VirtioNet(backend, TestMac));
        d.Activate();
        Send(d, GsoHeader(false, 1449), Packet(false, 1, 4000, Ack)); // 1449 + 66 header bytes > 1514
        var udp = Packet(false, 1, 4000, Ack);
        udp[23] = 17;
        Send(d, GsoHeader(false, 1448), udp);
        Send(d, GsoHeader(true, 1448), Packet(false, 1, 4000, Ack)); // TCPV6 over an IPv4 packet
        Send(d, GsoHeader(false, 0), Packet(false, 1, 4000, Ack));
        Assert.Empty(backend.Sent);
        Assert.Equal(4, ((VirtioNet)d.Device).Statistics.TransmitDrops);
    }

    private static byte[] GsoHeader(bool ipv6, int mss)
    {
        var h = new byte[NetFeatures.HeaderBytes];
        h[0] = NetFeatures.HeaderNeedsChecksum;
        h[1] = ipv6 ? NetFeatures.GsoTcpV6 : NetFeatures.GsoTcpV4;
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(2), (ushort)(14 + (ipv6 ? 40 : 20) + TcpBytes));
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(4), (ushort)mss);
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(6), (ushort)(14 + (ipv6 ? 40 : 20)));
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(8), 16);
        return h;
    }

    /// <summary>One Ethernet + IP + TCP packet of <paramref name="payload"/> bytes as Linux hands a GSO packet to its
    /// driver: IP length of the whole, the TCP checksum field holding only the pseudo-header's sum.</summary>
    private static byte[] Packet(bool ipv6, uint seq, int payload, int flags, ushort id = 1)
    {
        int ipBytes = ipv6 ? 40 : 20;
        var f = new byte[14 + ipBytes + TcpBytes + payload];
        for (int i = 0; i < 12; i++) f[i] = (byte)(0x30 + i);
        var ip = f.AsSpan(14);
        if (ipv6)
        {
            f[12] = 0x86; f[13] = 0xdd;
            ip[0] = 0x60;
            BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)(TcpBytes + payload));
            ip[6] = 6; ip[7] = 64;
            for (int i = 0; i < 32; i++) ip[8 + i] = (byte)(0x90 + i);
        }
        else
        {
            f[12] = 0x08;
            ip[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)Math.Min(65535, 20 + TcpBytes + payload));
            BinaryPrimitives.WriteUInt16BigEndian(ip[4..], id);
            ip[6] = 0x40; ip[8] = 64; ip[9] = 6;
            ip[12] = 10; ip[13] = 0; ip[14] = 2; ip[15] = 15;
            ip[16] = 10; ip[17] = 0; ip[18] = 2; ip[19] = 2;
        }
        var tcp = ip[ipBytes..];
        BinaryPrimitives.WriteUInt16BigEndian(tcp, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], 5000);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], 4242);
        tcp[12] = TcpBytes / 4 << 4;
        tcp[13] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 1000);
        tcp[20] = 1; tcp[21] = 1; tcp[22] = 8; tcp[23] = 10; tcp[24] = 0xaa; tcp[31] = 0xbb;
        for (int i = 0; i < payload; i++) tcp[TcpBytes + i] = (byte)(i * 31 + 7 + i / 251);
        return f;
    }

    private static void Send(FakeDriver d, byte[] header, byte[] packet)
    {
        ulong a = d.Ram.Alloc(header.Length), b = d.Ram.Alloc(packet.Length);
        d.Ram.Memory.Write(a, header);
        d.Ram.Memory.Write(b, packet);
        d.Queues[Tx].AddChain(Buf.R(a, (uint)header.Length), Buf.R(b, (uint)packet.Length));
        d.Kick(Tx);
        d.Drain();
        Assert.True(d.Queues[Tx].TryTakeUsed(out _, out _));
    }

    private static uint PseudoHeader(byte[] s, bool ipv6) =>
        (ipv6 ? Sum(s.AsSpan(22, 32)) : Sum(s.AsSpan(26, 8))) + 6 + (uint)(s.Length - 14 - (ipv6 ? 40 : 20));

    private static uint Sum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        for (int i = 0; i + 1 < data.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        if (data.Length % 2 == 1) sum += (uint)data[^1] << 8;
        return sum;
    }

    private static int Fold(uint sum)
    {
        while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
        return (int)sum;
    }
}
