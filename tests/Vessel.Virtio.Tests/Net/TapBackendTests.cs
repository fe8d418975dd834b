using System.Buffers.Binary;
using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Vessel.Virtio.Net;
using Vessel.Virtio.Net.Backends;

namespace Vessel.Virtio.Tests.Net;

/// <summary>Runs only as root with /dev/net/tun (it creates a network namespace and a TAP device in it).</summary>
public sealed class RootNetFactAttribute : FactAttribute
{
    public RootNetFactAttribute()
    {
        Skip = NetworkNamespace.Unavailable;
    }
}

public sealed class TapBackendTests
{
    private static readonly byte[] GuestMac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    private static readonly byte[] GuestIp = [10, 213, 0, 2], HostIp = [10, 213, 0, 1];

    [Fact]
    public void A_missing_interface_is_one_line()
    {
        var e = Assert.Throws<NetBackendException>(() => TapBackend.Open("vessel-none0", NullLogger.Instance));
        Assert.Equal("--net tap=vessel-none0: no such network interface (create it first, e.g. ip tuntap add vessel-none0 mode tap)", e.Message);
        Assert.Contains("not a network interface name", Assert.Throws<NetBackendException>(() => TapBackend.Open("a-name-far-too-long", NullLogger.Instance)).Message);
    }

    [RootNetFact]
    public void An_interface_that_is_not_a_tap_is_refused()
    {
        var e = Assert.Throws<NetBackendException>(() => TapBackend.Open("lo", NullLogger.Instance));
        Assert.StartsWith("--net tap=lo: cannot attach to it as a TAP device", e.Message);
    }

    /// <summary>A TAP device in a namespace the test creates (10.213.0.1/24): the fake guest's ARP request is answered,
    /// and so is its ping, through the vnet header both ways. No traffic leaves that namespace.</summary>
    [RootNetFact]
    public void Arp_and_ping_reach_the_host_kernel_in_a_namespace_and_are_answered()
    {
        using var ns = new NetworkNamespace("vessel-tap");
        ns.AddTap("vt0", "10.213.0.1/24");
        var backend = ns.Inside(() => TapBackend.Open("vt0", NullLogger.Instance));
        using var d = new FakeDriver(new VirtioNet(backend, new MacAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x56)));
        d.Activate();
        var rx = d.Queues[VirtioNet.ReceiveQueue];
        var addresses = new Dictionary<uint, ulong>();
        for (int i = 0; i < 32; i++)
        {
            ulong a = d.Ram.Alloc(2048);
            addresses[rx.AddChain(Buf.W(a, 2048))] = a;
        }
        d.Kick(VirtioNet.ReceiveQueue);

        var arpReply = WaitForFrame(d, addresses, () => Transmit(d, ArpRequest()), f => f.Length >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 2);
        var hostMac = arpReply[22..28];
        Assert.Equal(HostIp, arpReply[28..32]);
        Assert.Equal(GuestMac, arpReply[..6]);

        var echoReply = WaitForFrame(d, addresses, () => Transmit(d, EchoRequest(hostMac)), f => f.Length >= 42 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 1 && f[34] == 0);
        Assert.Equal(HostIp, echoReply[26..30]);
        Assert.Equal("vessel-ping"u8.ToArray(), echoReply[42..53]);
    }

    /// <summary>The TAP backend's data path allocates nothing per frame: its send (with the vnet header, as the device
    /// hands it over) and its reader thread, read each time it hands the ring a frame (the ring's listener runs on the
    /// writer's thread). Pings to the host side of a TAP in a namespace the test creates.</summary>
    [RootNetFact]
    public void Sends_and_the_reader_allocate_nothing_per_frame()
    {
        using var ns = new NetworkNamespace("vessel-tapa");
        ns.AddTap("vt1", "10.213.0.1/24");
        using var backend = ns.Inside(() => TapBackend.Open("vt1", NullLogger.Instance));
        var ring = new FrameRing(4 << 20, NetFeatures.HeaderBytes + NetFeatures.MaxFrameBytes);
        ring.SetAccepting(true);
        const int Capacity = 1024;
        var readings = new long[Capacity];
        int frames = 0;
        ring.SetListener(() =>
        {
            int at = Interlocked.Increment(ref frames) - 1;
            if (at < Capacity) readings[at] = GC.GetAllocatedBytesForCurrentThread();
        });
        backend.Start(ring);
        byte[] WithHeader(byte[] frame) => [.. new byte[NetFeatures.HeaderBytes], .. frame];
        byte[] Await(Func<byte[], bool> match, byte[] request, bool sent = false)
        {
            var clock = Stopwatch.StartNew();
            var lastSent = sent ? TimeSpan.Zero : -TimeSpan.FromSeconds(1);
            while (clock.Elapsed < TimeSpan.FromSeconds(10))
            {
                if (clock.Elapsed - lastSent >= TimeSpan.FromSeconds(1))
                {
                    Assert.True(backend.Send(request));
                    lastSent = clock.Elapsed;
                }
                if (!ring.TryPeek(out var got)) { Thread.Sleep(1); continue; }
                var frame = got[NetFeatures.HeaderBytes..].ToArray();
                ring.Pop();
                if (match(frame)) return frame;
            }
            throw new TimeoutException("the host kernel did not answer through the TAP");
        }
        var hostMac = Await(f => f.Length >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 2, WithHeader(ArpRequest()))[22..28];
        var echo = WithHeader(EchoRequest(hostMac));
        static bool IsEchoReply(byte[] f) => f.Length >= 42 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 1 && f[34] == 0;

        const int WarmUp = 10, Rounds = 60;
        long sendBytes = 0;
        int framesAtWarmUp = 0;
        for (int i = 0; i < Rounds; i++)
        {
            if (i == WarmUp)
                framesAtWarmUp = Volatile.Read(ref frames);
            long before = GC.GetAllocatedBytesForCurrentThread();
            Assert.True(backend.Send(echo));
            if (i >= WarmUp)
                sendBytes += GC.GetAllocatedBytesForCurrentThread() - before;
            Await(IsEchoReply, echo, sent: true); // resent after a second only if the reply was lost
        }

        Assert.Equal(0, sendBytes);
        int seen = Math.Min(Volatile.Read(ref frames), Capacity);
        Assert.True(seen - framesAtWarmUp >= Rounds - WarmUp, $"{seen} frames from the TAP");
        Assert.True(readings[seen - 1] == readings[framesAtWarmUp],
            "reader: " + string.Join(",", readings[framesAtWarmUp..seen].Select((r, i) => i == 0 ? 0 : r - readings[framesAtWarmUp + i - 1])));
    }

    private static void Transmit(FakeDriver d, byte[] frame)
    {
        ulong a = d.Ram.Alloc(NetFeatures.HeaderBytes + frame.Length);
        d.Ram.Memory.Fill(a, NetFeatures.HeaderBytes, 0);
        d.Ram.Memory.Write(a + NetFeatures.HeaderBytes, frame);
        d.Queues[VirtioNet.TransmitQueue].AddChain(Buf.R(a, (uint)(NetFeatures.HeaderBytes + frame.Length)));
        d.Kick(VirtioNet.TransmitQueue);
    }

    /// <summary>Sends a request and returns the first received frame (without its vnet header) that
    /// <paramref name="match"/> accepts; others (IPv6 neighbour discovery and the like) are skipped and their
    /// buffers given back. The request goes out again each second, as a real stack would resend it: one sent in
    /// the moment the TAP's carrier comes up can be lost on a loaded host.</summary>
    private static byte[] WaitForFrame(FakeDriver d, Dictionary<uint, ulong> addresses, Action send, Func<byte[], bool> match)
    {
        var rx = d.Queues[VirtioNet.ReceiveQueue];
        var clock = Stopwatch.StartNew();
        var lastSent = -TimeSpan.FromSeconds(1);
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (clock.Elapsed - lastSent >= TimeSpan.FromSeconds(1))
            {
                send();
                lastSent = clock.Elapsed;
            }
            d.Drain();
            if (!rx.TryTakeUsed(out uint id, out uint length)) { Thread.Sleep(5); continue; }
            ulong buffer = addresses[id];
            var frame = d.Ram.Read(buffer + NetFeatures.HeaderBytes, (int)length - NetFeatures.HeaderBytes);
            if (match(frame)) return frame;
            addresses[rx.AddChain(Buf.W(buffer, 2048))] = buffer;
            d.Kick(VirtioNet.ReceiveQueue);
        }
        throw new TimeoutException("the host kernel did not answer through the TAP");
    }

    private static byte[] ArpRequest()
    {
        var f = new byte[42];
        f.AsSpan(0, 6).Fill(0xff);
        GuestMac.CopyTo(f, 6);
        f[12] = 0x08; f[13] = 0x06;
        f[14] = 0; f[15] = 1; f[16] = 0x08; f[17] = 0; f[18] = 6; f[19] = 4; f[20] = 0; f[21] = 1;
        GuestMac.CopyTo(f, 22);
        GuestIp.CopyTo(f, 28);
        HostIp.CopyTo(f, 38);
        return f;
    }

    private static byte[] EchoRequest(byte[] hostMac)
    {
        var payload = "vessel-ping"u8;
        var f = new byte[42 + payload.Length];
        hostMac.CopyTo(f, 0);
        GuestMac.CopyTo(f, 6);
        f[12] = 0x08; f[13] = 0x00;
        var ip = f.AsSpan(14, 20);
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + 8 + payload.Length));
        ip[8] = 64; ip[9] = 1;
        GuestIp.CopyTo(ip[12..]);
        HostIp.CopyTo(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Checksum(ip));
        var icmp = f.AsSpan(34);
        icmp[0] = 8;
        BinaryPrimitives.WriteUInt16BigEndian(icmp[4..], 0x7e55);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[6..], 1);
        payload.CopyTo(icmp[8..]);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Checksum(icmp));
        return f;
    }

    private static ushort Checksum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        for (int i = 0; i + 1 < data.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        if (data.Length % 2 == 1) sum += (uint)data[^1] << 8;
        while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
        return (ushort)~sum;
    }
}
