using System.Buffers.Binary;
using Vessel.Virtio.Net;

namespace Vessel.Virtio.Tests.Net;

public sealed class NetTests
{
    private const int Rx = VirtioNet.ReceiveQueue, Tx = VirtioNet.TransmitQueue;
    private static readonly MacAddress TestMac = new(0x52, 0x54, 0x00, 0xab, 0xcd, 0xef);

    private static (FakeDriver Driver, VirtioNet Net, FakeNetBackend Backend) Start(bool vnetHeader = false, ulong? features = null)
    {
        var backend = new FakeNetBackend(vnetHeader);
        var net = new VirtioNet(backend, TestMac);
        var d = new FakeDriver(net, features: features);
        d.Activate();
        return (d, net, backend);
    }

    private static byte[] Frame(int length, int seed = 0)
    {
        var f = new byte[length];
        for (int i = 0; i < length; i++) f[i] = (byte)(i * 7 + seed);
        return f;
    }

    [Fact]
    public void Config_space_holds_the_mac_and_link_status_and_offloads_follow_the_backend()
    {
        var (d, net, _) = Start();
        using var driver = d;
        Span<byte> config = stackalloc byte[10];
        net.ReadConfig(0, config);
        Assert.Equal(new byte[] { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef }, config[..6].ToArray());
        Assert.Equal(NetFeatures.LinkUp, BinaryPrimitives.ReadUInt16LittleEndian(config[6..]));
        Assert.Equal(0UL, net.OfferedFeatures & NetFeatures.Offloads);
        Assert.NotEqual(0UL, net.OfferedFeatures & NetFeatures.MergeableRxBuffers);
        using var withHeader = new VirtioNet(new FakeNetBackend(vnetHeader: true), TestMac);
        Assert.Equal(NetFeatures.Offloads, withHeader.OfferedFeatures & NetFeatures.Offloads);

        net.LinkUp = false;
        net.ReadConfig(6, config[..2]);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(config));
        Assert.Equal(1, d.Interrupt.ConfigInterrupts);
    }

    /// <summary>A passt-like backend: its MTU is offered (Linux makes it eth0's), and its frames arrive marked
    /// DATA_VALID once the driver took GUEST_CSUM, unmarked if it did not.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_backend_mtu_is_offered_and_verified_frames_are_marked_data_valid(bool driverTakesGuestCsum)
    {
        var backend = new FakeNetBackend(mtu: 65520, checksumsVerified: true);
        var net = new VirtioNet(backend, TestMac);
        Assert.Equal(NetFeatures.Mtu | NetFeatures.GuestCsum, net.OfferedFeatures & (NetFeatures.Mtu | NetFeatures.GuestCsum));
        Assert.Equal(NetFeatures.Csum | NetFeatures.GuestTso4 | NetFeatures.HostTso4 | NetFeatures.HostTso6,
            net.OfferedFeatures & NetFeatures.Offloads & ~NetFeatures.GuestCsum);
        Span<byte> mtu = stackalloc byte[2];
        net.ReadConfig(10, mtu);
        Assert.Equal(65520, BinaryPrimitives.ReadUInt16LittleEndian(mtu));
        Assert.Equal(0UL, new VirtioNet(new FakeNetBackend(), TestMac).OfferedFeatures & (NetFeatures.Mtu | NetFeatures.GuestCsum));

        ulong features = net.OfferedFeatures & ~(driverTakesGuestCsum ? 0 : NetFeatures.GuestCsum);
        using var d = new FakeDriver(net, features: features);
        d.Activate();
        ulong buffer = d.Ram.Alloc(2048);
        d.Queues[Rx].AddChain(Buf.W(buffer, 2048));
        d.Kick(Rx);
        Assert.True(backend.Inject(Frame(1514, 3)));
        d.Drain();
        Assert.Equal((0u, 1526u), d.Queues[Rx].TakeUsed());
        var got = d.Ram.Read(buffer, 1526);
        Assert.Equal(driverTakesGuestCsum ? NetFeatures.HeaderDataValid : 0, got[0]);
        Assert.Equal(Frame(1514, 3), got[12..]);
    }

    [Fact]
    public void Transmitted_frames_reach_the_backend_without_the_vnet_header()
    {
        var (d, net, backend) = Start();
        using var driver = d;
        var frame = Frame(1514);
        ulong hdr = d.Ram.Alloc(12), a = d.Ram.Alloc(1000), b = d.Ram.Alloc(514);
        d.Ram.Memory.Fill(hdr, 12, 0);
        d.Ram.Memory.Write(a, frame.AsSpan(0, 1000));
        d.Ram.Memory.Write(b, frame.AsSpan(1000));
        var tx = d.Queues[Tx];
        tx.AddChain(Buf.R(hdr, 12), Buf.R(a, 1000), Buf.R(b, 514));
        ulong c = d.Ram.Alloc(12 + 60);
        d.Ram.Memory.Write(c + 12, Frame(60, 3));
        tx.AddIndirectChain(d.Ram.Alloc(16), Buf.R(c, 72));
        d.Kick(Tx);
        Assert.Equal(2, backend.Sent.Count);
        Assert.Equal(frame, backend.Sent[0]);
        Assert.Equal(Frame(60, 3), backend.Sent[1]);
        Assert.Equal((0u, 0u), tx.TakeUsed());
        Assert.Equal(2, net.Counters.Transmitted);
        Assert.True(d.Interrupt.QueueInterrupts(Tx) >= 1);
    }

    [Fact]
    public void A_chain_shorter_than_the_header_is_dropped_and_returned()
    {
        var (d, net, backend) = Start();
        using var driver = d;
        d.Queues[Tx].AddChain(Buf.R(d.Ram.Alloc(8), 8));
        d.Kick(Tx);
        Assert.Empty(backend.Sent);
        Assert.Equal((0u, 0u), d.Queues[Tx].TakeUsed());
        Assert.Equal(1, net.Counters.TransmitDrops);
        Assert.Empty(d.Interrupt.Resets);
    }

    [Fact]
    public void A_received_frame_waits_for_a_buffer_and_arrives_behind_a_header_with_one_buffer()
    {
        var (d, net, backend) = Start(features: VirtioFeatures.Version1 | NetFeatures.Mac);
        using var driver = d;
        var frame = Frame(1514, 5);
        Assert.True(backend.Inject(frame));
        d.Drain();
        Assert.False(d.Queues[Rx].TryTakeUsed(out _, out _));
        ulong buffer = d.Ram.Alloc(1526);
        d.Queues[Rx].AddChain(Buf.W(buffer, 1526));
        d.Kick(Rx);
        Assert.Equal((0u, 1526u), d.Queues[Rx].TakeUsed());
        var got = d.Ram.Read(buffer, 1526);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(got.AsSpan(NetFeatures.NumBuffersOffset)));
        Assert.Equal(new byte[10], got[..10]);
        Assert.Equal(frame, got[12..]);
        Assert.Equal(1, net.Counters.Received);
        Assert.True(d.Interrupt.QueueInterrupts(Rx) >= 1);
    }

    [Fact]
    public void Merged_buffers_carry_a_large_frame_and_spare_ones_wait_for_the_next()
    {
        var (d, net, backend) = Start();
        using var driver = d;
        var rx = d.Queues[Rx];
        var buffers = new ulong[5];
        for (int i = 0; i < buffers.Length; i++)
        {
            buffers[i] = d.Ram.Alloc(1024);
            rx.AddChain(Buf.W(buffers[i], 1024));
        }
        d.Kick(Rx);
        var big = Frame(3000, 9);
        backend.Inject(big);
        d.Drain();
        var used = new[] { rx.TakeUsed(), rx.TakeUsed(), rx.TakeUsed() };
        Assert.Equal([(0u, 1024u), (1u, 1024u), (2u, 964u)], used);
        Assert.False(rx.TryTakeUsed(out _, out _));
        var all = d.Ram.Read(buffers[0], 1024).Concat(d.Ram.Read(buffers[1], 1024)).Concat(d.Ram.Read(buffers[2], 964)).ToArray();
        Assert.Equal(3, BinaryPrimitives.ReadUInt16LittleEndian(all.AsSpan(NetFeatures.NumBuffersOffset)));
        Assert.Equal(big, all[12..]);

        // The next frame needs two buffers and there are two left.
        var second = Frame(1100, 1);
        backend.Inject(second);
        d.Drain();
        Assert.Equal((3u, 1024u), rx.TakeUsed());
        Assert.Equal((4u, 88u), rx.TakeUsed());
        Assert.Equal(2, net.Counters.Received);
        Assert.Equal(0, net.State.ReceiveBuffersHeld);
    }

    [Fact]
    public void A_frame_larger_than_a_small_buffer_is_dropped_and_the_buffer_kept_for_the_next()
    {
        var (d, net, backend) = Start(features: VirtioFeatures.Version1);
        using var driver = d;
        ulong buffer = d.Ram.Alloc(600);
        d.Queues[Rx].AddChain(Buf.W(buffer, 600));
        d.Kick(Rx);
        backend.Inject(Frame(1000));
        backend.Inject(Frame(500, 4));
        d.Drain();
        Assert.Equal((0u, 512u), d.Queues[Rx].TakeUsed());
        Assert.Equal(Frame(500, 4), d.Ram.Read(buffer + 12, 500));
        Assert.Equal(1, net.Counters.ReceiveDrops);
        Assert.Empty(d.Interrupt.Resets);
    }

    [Fact]
    public void A_receive_buffer_without_writable_bytes_breaks_the_device_once()
    {
        var (d, _, backend) = Start();
        using var driver = d;
        d.Queues[Rx].AddChain(Buf.R(d.Ram.Alloc(64), 64));
        backend.Inject(Frame(60));
        d.Kick(Rx);
        Assert.Single(d.Interrupt.Resets);
        Assert.Contains("no device-writable", d.Interrupt.Resets[0]);
        Assert.True(d.Ram.CanaryIntact);
    }

    [Fact]
    public void With_a_vnet_header_backend_the_header_passes_through_both_ways()
    {
        var (d, _, backend) = Start(vnetHeader: true);
        using var driver = d;
        Assert.NotEqual(0UL, backend.Offloads & NetFeatures.HostTso4);
        // Guest → host: the header (NEEDS_CSUM, csum_start 34, csum_offset 16) is kept.
        ulong t = d.Ram.Alloc(12 + 60);
        var header = new byte[12];
        header[0] = NetFeatures.HeaderNeedsChecksum;
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(6), 34);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(8), 16);
        d.Ram.Memory.Write(t, header);
        d.Ram.Memory.Write(t + 12, Frame(60));
        d.Queues[Tx].AddChain(Buf.R(t, 72));
        d.Kick(Tx);
        Assert.Equal(header.Concat(Frame(60)).ToArray(), backend.Sent[0]);
        // Host → guest: the backend's header arrives, num_buffers set by the device.
        var fromHost = new byte[12 + 60];
        fromHost[0] = 2; // DATA_VALID
        Frame(60, 8).CopyTo(fromHost, 12);
        ulong r = d.Ram.Alloc(2048);
        d.Queues[Rx].AddChain(Buf.W(r, 2048));
        backend.Inject(fromHost);
        d.Kick(Rx);
        Assert.Equal((0u, 72u), d.Queues[Rx].TakeUsed());
        var got = d.Ram.Read(r, 72);
        Assert.Equal(2, got[0]);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(got.AsSpan(10)));
        Assert.Equal(Frame(60, 8), got[12..]);
    }

    [Fact]
    public void Frames_are_dropped_while_the_link_is_down_and_before_the_driver_is_ready()
    {
        var backend = new FakeNetBackend();
        var net = new VirtioNet(backend, TestMac);
        Assert.False(backend.Inject(Frame(60)), "a frame before DRIVER_OK is dropped, not queued");
        using var d = new FakeDriver(net);
        d.Activate();
        net.LinkUp = false;
        ulong buffer = d.Ram.Alloc(2048);
        d.Queues[Rx].AddChain(Buf.W(buffer, 2048));
        d.Kick(Rx);
        backend.Inject(Frame(60));
        d.Drain();
        Assert.False(d.Queues[Rx].TryTakeUsed(out _, out _));
        Assert.Equal(1, net.Counters.ReceiveDrops);
        net.LinkUp = true;
        backend.Inject(Frame(60));
        d.Drain();
        Assert.Equal((0u, 72u), d.Queues[Rx].TakeUsed());
    }

    [Fact]
    public void Statistics_count_frames_and_bytes_both_ways_without_the_vnet_header()
    {
        var (d, net, backend) = Start(vnetHeader: true);
        using var driver = d;
        ulong tx = d.Ram.Alloc(12 + 100);
        d.Queues[Tx].AddChain(Buf.R(tx, 12 + 100));
        d.Kick(Tx);
        d.Drain();
        ulong rx = d.Ram.Alloc(2048);
        d.Queues[Rx].AddChain(Buf.W(rx, 2048));
        d.Kick(Rx);
        var withHeader = new byte[12 + 300];
        Assert.True(backend.Inject(withHeader));
        d.Drain();
        Assert.Equal(new NetStatistics(1, 300, 1, 100, 0, 0, 0), net.Statistics);
    }

    [Fact]
    public void Frames_refused_by_a_full_ring_count_as_receive_drops_and_are_logged_once_not_per_frame()
    {
        var logger = new ListLogger();
        var backend = new FakeNetBackend();
        using var d = new FakeDriver(new VirtioNet(backend, TestMac, logger));
        var net = (VirtioNet)d.Device;
        d.Activate();
        // The guest posts no receive buffers: the ring fills, then every frame is a drop.
        int kept = 0;
        while (backend.TryInject(Frame(60_000))) kept++;
        for (int i = 0; i < 99; i++) Assert.False(backend.TryInject(Frame(60_000)));
        Assert.True(kept >= 2);
        Assert.Equal(100, net.Statistics.ReceiveDrops);
        Assert.Equal(100, net.Statistics.ReceiveOverruns);
        Assert.Equal(0, net.Statistics.ReceivedFrames);
        var line = Assert.Single(logger.Lines);
        Assert.Contains("virtio-net 52:54:00:ab:cd:ef (fake) dropped frames: 1 to the guest (of 0 delivered; 1 of them because", line);

        // Once the guest posts buffers, what the ring kept arrives (a few at a time, all into one area: only the count
        // matters here).
        ulong area = d.Ram.Alloc(60_012);
        for (int posted = 0; posted < kept; posted++)
        {
            d.Queues[Rx].AddChain(Buf.W(area, 60_012));
            d.Kick(Rx);
            d.Drain();
            Assert.True(d.Queues[Rx].TryTakeUsed(out _, out _));
        }
        Assert.Equal(kept, net.Statistics.ReceivedFrames);
        Assert.Single(logger.Lines);
    }

    /// <summary>Towards a passt-like backend the guest may leave a checksum partial (VIRTIO_NET_F_CSUM): the device
    /// completes it, so the frame passt gets verifies like one summed by the guest; a header pointing outside the
    /// frame is a drop.</summary>
    [Theory]
    [InlineData(1000)]
    [InlineData(1001)]
    [InlineData(32_000)]
    public void Partial_transmit_checksums_are_completed_for_a_backend_without_a_vnet_header(int payloadBytes)
    {
        var backend = new FakeNetBackend(checksumsVerified: true);
        using var d = new FakeDriver(new VirtioNet(backend, TestMac));
        d.Activate();
        var packet = UdpFrame(payloadBytes, out ushort pseudoHeaderSum);
        var header = new byte[NetFeatures.HeaderBytes];
        header[0] = NetFeatures.HeaderNeedsChecksum;
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(6), 34); // csum_start: the UDP header
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(8), 6);  // csum_offset: UDP's checksum field
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(40), pseudoHeaderSum);
        Send(d, [.. header, .. packet]);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(6), (ushort)(packet.Length - 1));
        Send(d, [.. header, .. packet]);

        var sent = Assert.Single(backend.Sent);
        Assert.Equal(packet.AsSpan(0, 40).ToArray(), sent[..40]);
        Assert.Equal(packet.AsSpan(42).ToArray(), sent[42..]);
        // The receiver's check: the pseudo-header plus the whole UDP datagram sums to all ones.
        uint sum = OnesComplementSum(sent.AsSpan(26, 8)) + 17 + (uint)(8 + payloadBytes) + OnesComplementSum(sent.AsSpan(34));
        while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
        Assert.Equal(0xffffu, sum);
        Assert.Equal(1, ((VirtioNet)d.Device).Statistics.TransmitDrops);
    }

    private static void Send(FakeDriver d, byte[] bytes)
    {
        ulong a = d.Ram.Alloc(bytes.Length);
        d.Ram.Memory.Write(a, bytes);
        d.Queues[Tx].AddChain(Buf.R(a, (uint)bytes.Length));
        d.Kick(Tx);
        d.Drain();
    }

    /// <summary>An Ethernet + IPv4 + UDP frame with a patterned payload, and its pseudo-header's ones'-complement sum
    /// (what Linux writes into the checksum field of a partial checksum).</summary>
    private static byte[] UdpFrame(int payloadBytes, out ushort pseudoHeaderSum)
    {
        var f = new byte[42 + payloadBytes];
        f[12] = 0x08;
        f[14] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(16), (ushort)(28 + payloadBytes));
        f[22] = 64; f[23] = 17;
        f[26] = 10; f[27] = 0; f[28] = 2; f[29] = 15;
        f[30] = 10; f[31] = 0; f[32] = 2; f[33] = 2;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(34), 40000);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(36), 5000);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(38), (ushort)(8 + payloadBytes));
        for (int i = 0; i < payloadBytes; i++) f[42 + i] = (byte)(i * 13 + 5);
        uint sum = OnesComplementSum(f.AsSpan(26, 8)) + 17 + (uint)(8 + payloadBytes);
        while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
        pseudoHeaderSum = (ushort)sum;
        return f;
    }

    /// <summary>Big-endian 16-bit words summed (not folded), the way RFC 1071 reads a packet.</summary>
    private static uint OnesComplementSum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        for (int i = 0; i + 1 < data.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        if (data.Length % 2 == 1) sum += (uint)data[^1] << 8;
        return sum;
    }

    private sealed class ListLogger : Microsoft.Extensions.Logging.ILogger
    {
        private readonly List<string> _lines = [];
        public IReadOnlyList<string> Lines { get { lock (_lines) return [.. _lines]; } }
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId,
            TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_lines) _lines.Add(formatter(state, exception));
        }
    }

    [Fact]
    public void Reset_drops_waiting_frames_and_dispose_disposes_the_backend()
    {
        var (d, net, backend) = Start();
        backend.Inject(Frame(60));
        backend.Inject(Frame(60));
        d.Drain();
        Assert.Equal(2, net.State.FramesWaitingForTheGuest);
        net.Reset();
        Assert.Equal(0, net.State.FramesWaitingForTheGuest);
        d.Dispose();
        Assert.True(backend.Aborted);
        Assert.True(backend.Disposed);
    }

    /// <summary>A host that stops reading blocks the worker inside Send; stopping the VM must not wait for it.</summary>
    [Fact]
    public void Dispose_unblocks_a_send_the_host_never_takes()
    {
        var backend = new StuckBackend();
        var d = new FakeDriver(new VirtioNet(backend, TestMac));
        d.Activate();
        ulong a = d.Ram.Alloc(72);
        d.Queues[Tx].AddChain(Buf.R(a, 72));
        d.Device.QueueNotify(Tx);
        Assert.True(backend.Entered.Wait(TimeSpan.FromSeconds(10)));
        var disposer = new Thread(d.Dispose);
        disposer.Start();
        Assert.True(disposer.Join(TimeSpan.FromSeconds(10)), "Dispose waited for a send the host never took");
    }

    private sealed class StuckBackend : INetBackend
    {
        private readonly ManualResetEventSlim _released = new();
        public ManualResetEventSlim Entered { get; } = new();
        public string Description => "stuck";
        public bool CarriesVnetHeader => false;
        public ushort Mtu => 0;
        public bool ChecksumsVerified => false;
        public void Start(FrameRing toGuest) { }
        public void SetOffloads(ulong negotiatedFeatures) { }
        public bool Send(ReadOnlySpan<byte> frame)
        {
            Entered.Set();
            _released.Wait();
            return false;
        }
        public void Abort() => _released.Set();
        public void Dispose() { }
    }
}
