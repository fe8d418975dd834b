using System.Net.Sockets;
using Vessel.Virtio.Vsock;

namespace Vessel.Virtio.Tests.Vsock;

/// <summary>
/// What the guest pays per vsock packet: completions of one worker pass published together with one interrupt each
/// way, and a data path (the device's worker) that allocates nothing per packet.
/// </summary>
public sealed class VsockBatchingTests
{
    private const int Rx = VirtioVsock.ReceiveQueue, Tx = VirtioVsock.TransmitQueue;
    private const ulong GuestCid = 7;

    /// <summary>Without EVENT_IDX the driver wants an interrupt for every publish: the count is the number of publishes.</summary>
    private static ulong PlainFeatures(VirtioVsock device) => device.OfferedFeatures & ~VirtioFeatures.RingEventIndex;

    private static byte[] Packet(VsockOp op, uint sourcePort, uint destinationPort, int payload = 0)
    {
        var raw = new byte[VsockHeader.Size + payload];
        new VsockHeader
        {
            SourceCid = GuestCid, DestinationCid = VsockHeader.HostCid, SourcePort = sourcePort, DestinationPort = destinationPort,
            Length = (uint)payload, Type = VsockHeader.TypeStream, Op = op, BufferAllocation = 1 << 20,
        }.Write(raw);
        for (int i = 0; i < payload; i++) raw[VsockHeader.Size + i] = (byte)(i * 7 + sourcePort);
        return raw;
    }

    private static ushort Post(FakeDriver d, byte[] packet)
    {
        ulong a = d.Ram.Alloc(packet.Length);
        d.Ram.Memory.Write(a, packet);
        return d.Queues[Tx].AddChain(Buf.R(a, (uint)packet.Length));
    }

    /// <summary>Five packets for streams the host does not know, queued before one kick: completed in order with one
    /// transmit interrupt, and their five resets delivered in one receive pass with one receive interrupt.</summary>
    [Fact]
    public void Packets_found_in_one_pass_are_completed_together_with_one_interrupt_each_way()
    {
        using var dir = new TempDirectory();
        var device = new VirtioVsock(new VsockOptions(GuestCid, Path.Combine(dir.Path, "v.sock")));
        using var d = new FakeDriver(device, features: PlainFeatures(device));
        var rxBuffers = new ulong[8];
        for (int i = 0; i < rxBuffers.Length; i++)
        {
            rxBuffers[i] = d.Ram.Alloc(VsockHeader.Size + 256);
            d.Queues[Rx].AddChain(Buf.W(rxBuffers[i], VsockHeader.Size + 256));
        }
        d.Activate();
        d.Drain();
        var heads = new ushort[5];
        for (int i = 0; i < heads.Length; i++)
            heads[i] = Post(d, Packet(VsockOp.CreditRequest, 1000 + (uint)i, 6000));
        d.Kick(Tx);
        d.Drain();

        foreach (var head in heads)
            Assert.Equal((head, 0u), d.Queues[Tx].TakeUsed());
        Assert.Equal(1, d.Interrupt.QueueInterrupts(Tx));
        var resetPorts = new List<uint>();
        for (int i = 0; i < heads.Length; i++)
        {
            var (id, length) = d.Queues[Rx].TakeUsed();
            Assert.Equal((uint)VsockHeader.Size, length);
            var h = VsockHeader.Read(d.Ram.Read(rxBuffers[id], VsockHeader.Size));
            Assert.Equal(VsockOp.Reset, h.Op);
            resetPorts.Add(h.DestinationPort);
        }
        Assert.Equal(new uint[] { 1000, 1001, 1002, 1003, 1004 }, resetPorts.Order().ToArray());
        Assert.Equal(1, d.Interrupt.QueueInterrupts(Rx));
    }

    /// <summary>An open stream, one data packet each way per round, each its own worker pass (kick, serve, publish,
    /// interrupt): after a warm-up the worker's allocation count must not move across 40 more rounds.</summary>
    [Fact]
    public void The_worker_allocates_nothing_per_packet_in_either_direction()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "v.sock");
        using var listener = UnixSockets.Listen(path + "_5000");
        var device = new VirtioVsock(new VsockOptions(GuestCid, path));
        var probe = new WorkerAllocationProbe(queues: 3);
        using var d = new FakeDriver(device, features: PlainFeatures(device));
        device.Activate(new VirtioActivation(d.Ram.Memory, d.Features, [d.Queues[Rx].Config, d.Queues[Tx].Config, d.Queues[2].Config], probe));
        var rx = d.Queues[Rx];
        ulong receiveBuffer = d.Ram.Alloc(VsockHeader.Size + 4096);
        rx.AddChain(Buf.W(receiveBuffer, VsockHeader.Size + 4096));
        d.Kick(Rx);

        Post(d, Packet(VsockOp.Request, 1234, 5000));
        d.Kick(Tx);
        using var host = listener.Accept();
        host.ReceiveTimeout = 10_000;
        Assert.Equal(VsockOp.Response, TakePacket(d, receiveBuffer).Op);
        d.Queues[Tx].TakeUsed();

        const int Rounds = 50, WarmUp = 10, Bytes = 1000;
        var fromGuest = Packet(VsockOp.ReadWrite, 1234, 5000, Bytes);
        ulong sendBuffer = d.Ram.Alloc(fromGuest.Length);
        d.Ram.Memory.Write(sendBuffer, fromGuest);
        var toGuest = new byte[Bytes];
        var got = new byte[Bytes];
        int txReadingsBefore = probe.Readings(Tx).Length, rxReadingsBefore = probe.Readings(Rx).Length;
        for (int i = 0; i < Rounds; i++)
        {
            d.Queues[Tx].AddChain(Buf.R(sendBuffer, (uint)fromGuest.Length));
            d.Kick(Tx);
            Assert.Equal(Bytes, ReadExactly(host, got));
            d.Queues[Tx].TakeUsed();
            host.Send(toGuest);
            // Credit updates (the device wrote the guest's bytes to the host) may come before the data.
            var h = TakePacket(d, receiveBuffer);
            while (h.Op == VsockOp.CreditUpdate) h = TakePacket(d, receiveBuffer);
            Assert.Equal(VsockOp.ReadWrite, h.Op);
        }

        foreach (var (queue, before) in new[] { (Tx, txReadingsBefore), (Rx, rxReadingsBefore) })
        {
            var readings = probe.Readings(queue)[before..];
            Assert.True(readings.Length >= Rounds, $"queue {queue}: {readings.Length} interrupts");
            Assert.True(readings[^1] == readings[WarmUp], $"queue {queue}: " + string.Join(",", readings.Select((r, i) => i == 0 ? 0 : r - readings[i - 1])));
        }
    }

    /// <summary>Waits for the device's next packet in the one receive buffer, reads its header and posts the buffer again.</summary>
    private static VsockHeader TakePacket(FakeDriver d, ulong buffer)
    {
        var rx = d.Queues[Rx];
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!rx.TryTakeUsed(out _, out _))
        {
            Assert.True(DateTime.UtcNow < deadline, "no packet from the device");
            Thread.Sleep(1);
        }
        var h = VsockHeader.Read(d.Ram.Read(buffer, VsockHeader.Size));
        rx.AddChain(Buf.W(buffer, VsockHeader.Size + 4096));
        d.Kick(Rx);
        return h;
    }

    private static int ReadExactly(Socket s, byte[] into)
    {
        int got = 0;
        while (got < into.Length)
        {
            int n = s.Receive(into, got, into.Length - got, SocketFlags.None);
            if (n == 0) break;
            got += n;
        }
        return got;
    }
}
