using System.Buffers.Binary;
using Vessel.Virtio.Net;

namespace Vessel.Virtio.Tests.Net;

public sealed class TcpCoalescerTests
{
    private const int Rx = VirtioNet.ReceiveQueue;
    private static readonly MacAddress TestMac = new(0x52, 0x54, 0x00, 0xab, 0xcd, 0xef);

    /// <summary>Ethernet + IPv4 + TCP (ACK, 12 bytes of timestamp-like options) from 10.0.2.2:8080 to 10.0.2.15:40000
    /// with a payload that depends on its place in the stream, and a correct TCP checksum.</summary>
    private static byte[] Segment(uint seq, int payload, byte flags = 0x10, uint ack = 777, ushort window = 500, ushort id = 1)
    {
        const int tcpBytes = 32;
        var f = new byte[14 + 20 + tcpBytes + payload];
        for (int i = 0; i < 12; i++) f[i] = (byte)(0x20 + i);
        f[12] = 0x08;
        f[14] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(16), (ushort)(20 + tcpBytes + payload));
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(18), id);
        f[20] = 0x40; f[22] = 64; f[23] = 6;
        f[26] = 10; f[27] = 0; f[28] = 2; f[29] = 2;
        f[30] = 10; f[31] = 0; f[32] = 2; f[33] = 15;
        IpChecksum(f);
        var tcp = f.AsSpan(34);
        BinaryPrimitives.WriteUInt16BigEndian(tcp, 8080);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], 40000);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], ack);
        tcp[12] = tcpBytes / 4 << 4;
        tcp[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], window);
        tcp[20] = 1; tcp[21] = 1; tcp[22] = 8; tcp[23] = 10; tcp[24] = 0xaa; tcp[31] = 0xbb;
        for (int i = 0; i < payload; i++) tcp[tcpBytes + i] = (byte)((seq + (uint)i) * 31 + 7);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], (ushort)~Fold(PseudoHeader(f) + Sum(tcp)));
        return f;
    }

    private static uint PseudoHeader(byte[] f) => Sum(f.AsSpan(26, 8)) + 6 + (uint)(f.Length - 34);

    private static void IpChecksum(byte[] f)
    {
        f[24] = f[25] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(24), (ushort)~Fold(Sum(f.AsSpan(14, 20))));
    }

    private static uint Sum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        for (int i = 0; i + 1 < data.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        if (data.Length % 2 == 1) sum += (uint)data[^1] << 8;
        return sum;
    }

    private static ushort Fold(uint sum)
    {
        while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
        return (ushort)sum;
    }

    private static FrameRing RingOf(params byte[][] frames)
    {
        var ring = new FrameRing(1 << 20, NetFeatures.MaxFrameBytes);
        ring.SetAccepting(true);
        foreach (var f in frames) Assert.True(ring.Write(f));
        return ring;
    }

    /// <summary>Three in-order segments (the last short, with PSH) become one frame: the payloads in order, the IP
    /// length and checksum right, the last's PSH and window, and a partial checksum that, completed as the guest's
    /// stack would, verifies; a following segment of the stream waits for the next frame.</summary>
    [Fact]
    public void In_order_segments_merge_into_one_frame_whose_completed_checksum_verifies()
    {
        var a = Segment(1000, 1400);
        var b = Segment(2400, 1400, id: 2);
        var c = Segment(3800, 600, flags: 0x18, window: 900, id: 3);
        var d = Segment(4400, 1400, id: 4);
        var ring = RingOf(a, b, c, d);
        var merged = new byte[NetFeatures.MaxFrameBytes];

        Assert.Equal(3, TcpCoalescer.Merge(ring, merged, out int length, out ushort segment, out int headers));

        Assert.Equal(1400, segment);
        Assert.Equal(14 + 20 + 32, headers);
        Assert.Equal(headers + 3400, length);
        var frame = merged.AsSpan(0, length).ToArray();
        Assert.Equal([.. a[headers..], .. b[headers..], .. c[headers..]], frame[headers..]);
        Assert.Equal(a.AsSpan(0, 16).ToArray(), frame[..16]);
        Assert.Equal(length - 14, BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(16)));
        Assert.Equal(0xffff, Fold(Sum(frame.AsSpan(14, 20))));
        Assert.Equal(0x18, frame[34 + 13]);
        Assert.Equal(900, BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(34 + 14)));
        Assert.True(PartialChecksum.Complete(frame, TcpCoalescer.ChecksumStart, TcpCoalescer.ChecksumOffset));
        Assert.Equal(0xffff, Fold(PseudoHeader(frame) + Sum(frame.AsSpan(34))));
        // The ring is untouched: the device pops what it delivered.
        Assert.Equal(4, ring.Count);
    }

    public static TheoryData<string, byte[]> SecondSegmentsThatDoNotMerge => new()
    {
        { "a gap in the sequence", Segment(2401, 1400) },
        { "another ack number", Segment(2400, 1400, ack: 778) },
        { "a FIN", Segment(2400, 1400, flags: 0x11) },
        { "a larger payload than the first", Segment(2400, 1401) },
        { "no payload", Segment(2400, 0) },
    };

    [Theory]
    [MemberData(nameof(SecondSegmentsThatDoNotMerge))]
    public void A_segment_that_does_not_continue_the_first_leaves_it_alone(string why, byte[] second)
    {
        var merged = new byte[NetFeatures.MaxFrameBytes];
        Assert.True(1 == TcpCoalescer.Merge(RingOf(Segment(1000, 1400), second), merged, out _, out _, out _), why);
    }

    [Fact]
    public void A_first_segment_with_push_or_a_single_frame_goes_alone_and_the_ip_length_bounds_a_merge()
    {
        var merged = new byte[NetFeatures.MaxFrameBytes];
        Assert.Equal(1, TcpCoalescer.Merge(RingOf(Segment(1000, 1400, flags: 0x18), Segment(2400, 1400)), merged, out _, out _, out _));
        Assert.Equal(1, TcpCoalescer.Merge(RingOf(Segment(1000, 1400)), merged, out _, out _, out _));
        // passt's largest segments (MTU 32750): two fit in one IPv4 packet, a third does not.
        const int mss = 32750 - 20 - 32;
        var ring = RingOf(Segment(0, mss), Segment(mss, mss), Segment(2 * mss, mss));
        Assert.Equal(2, TcpCoalescer.Merge(ring, merged, out int length, out _, out _));
        Assert.True(length - 14 <= ushort.MaxValue);
    }

    /// <summary>Through the device: segments waiting in the ring reach a driver that took GUEST_TSO4 as one GSO frame
    /// (counted as the frames they were), and a driver without it gets them one by one, marked DATA_VALID.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_device_hands_merged_segments_to_a_driver_that_took_guest_tso4(bool driverTakesTso4)
    {
        var backend = new FakeNetBackend(mtu: 32750, checksumsVerified: true);
        var net = new VirtioNet(backend, TestMac);
        Assert.NotEqual(0UL, net.OfferedFeatures & NetFeatures.GuestTso4);
        using var d = new FakeDriver(net, features: net.OfferedFeatures & ~(driverTakesTso4 ? 0 : NetFeatures.GuestTso4));
        d.Activate();
        var a = Segment(1000, 3000);
        var b = Segment(4000, 3000, id: 2);
        Assert.True(backend.Inject(a));
        Assert.True(backend.Inject(b));
        var buffers = new ulong[4];
        for (int i = 0; i < buffers.Length; i++)
        {
            buffers[i] = d.Ram.Alloc(4096);
            d.Queues[Rx].AddChain(Buf.W(buffers[i], 4096));
        }
        d.Kick(Rx);
        d.Drain();

        var (first, firstLength) = d.Queues[Rx].TakeUsed();
        var got = d.Ram.Read(buffers[first], (int)firstLength);
        if (driverTakesTso4)
        {
            // 6078 bytes with the vnet header: two merged 4 KiB buffers.
            Assert.Equal(4096u, firstLength);
            var (second, secondLength) = d.Queues[Rx].TakeUsed();
            Assert.Equal(12 + 66 + 6000u - 4096, secondLength);
            got = [.. got, .. d.Ram.Read(buffers[second], (int)secondLength)];
            Assert.Equal(NetFeatures.HeaderNeedsChecksum, got[0]);
            Assert.Equal(NetFeatures.GsoTcpV4, got[1]);
            Assert.Equal(66, BinaryPrimitives.ReadUInt16LittleEndian(got.AsSpan(2)));
            Assert.Equal(3000, BinaryPrimitives.ReadUInt16LittleEndian(got.AsSpan(4)));
            Assert.Equal(34, BinaryPrimitives.ReadUInt16LittleEndian(got.AsSpan(6)));
            Assert.Equal(16, BinaryPrimitives.ReadUInt16LittleEndian(got.AsSpan(8)));
            Assert.Equal(2, BinaryPrimitives.ReadUInt16LittleEndian(got.AsSpan(NetFeatures.NumBuffersOffset)));
            Assert.Equal([.. a[66..], .. b[66..]], got[(12 + 66)..]);
            Assert.False(d.Queues[Rx].TryTakeUsed(out _, out _));
        }
        else
        {
            Assert.Equal(12u + (uint)a.Length, firstLength);
            Assert.Equal(NetFeatures.HeaderDataValid, got[0]);
            Assert.Equal(0, got[1]);
            Assert.Equal(a, got[12..]);
            var (second, secondLength) = d.Queues[Rx].TakeUsed();
            Assert.Equal(b, d.Ram.Read(buffers[second], (int)secondLength)[12..]);
        }
        Assert.Equal(2, net.Statistics.ReceivedFrames);
    }
}
