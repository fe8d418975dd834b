using Vessel.Virtio.Net;

namespace Vessel.Virtio.Tests.Net;

/// <summary>
/// What the guest pays per frame: completions published a burst at a time with one interrupt per burst, and a data
/// path (the device's worker, both directions) that allocates nothing per frame.
/// </summary>
public sealed class NetBatchingTests
{
    private const int Rx = VirtioNet.ReceiveQueue, Tx = VirtioNet.TransmitQueue;
    private static readonly MacAddress TestMac = new(0x52, 0x54, 0x00, 0x12, 0x34, 0x56);

    /// <summary>No EVENT_IDX: the driver wants an interrupt for every publish, so the count is the number of publishes.</summary>
    private static readonly ulong PlainFeatures = VirtioFeatures.Version1 | NetFeatures.Mac | NetFeatures.MergeableRxBuffers;

    private static byte[] Frame(int length, int seed)
    {
        var f = new byte[length];
        for (int i = 0; i < length; i++) f[i] = (byte)(i * 13 + seed);
        return f;
    }

    [Fact]
    public void Transmit_frames_found_in_one_pass_are_completed_in_order_with_one_interrupt()
    {
        var backend = new FakeNetBackend();
        using var d = new FakeDriver(new VirtioNet(backend, TestMac), features: PlainFeatures);
        d.Activate();
        d.Drain();
        var tx = d.Queues[Tx];
        var heads = new ushort[5];
        for (int i = 0; i < heads.Length; i++)
        {
            ulong b = d.Ram.Alloc(12 + 100);
            d.Ram.Memory.Fill(b, 12, 0);
            d.Ram.Memory.Write(b + 12, Frame(100, i));
            heads[i] = tx.AddChain(Buf.R(b, 112));
        }
        d.Kick(Tx);

        Assert.Equal(5, backend.Sent.Count);
        for (int i = 0; i < heads.Length; i++)
        {
            Assert.Equal(Frame(100, i), backend.Sent[i]);
            Assert.Equal((heads[i], 0u), tx.TakeUsed());
        }
        Assert.Equal(1, d.Interrupt.QueueInterrupts(Tx));
    }

    [Fact]
    public void With_event_idx_a_burst_interrupts_once_when_it_passes_used_event_and_not_before()
    {
        var backend = new FakeNetBackend();
        using var d = new FakeDriver(new VirtioNet(backend, TestMac), features: PlainFeatures | VirtioFeatures.RingEventIndex);
        d.Activate();
        d.Drain();
        var tx = d.Queues[Tx];
        tx.SetUsedEvent(5); // the driver wants to hear once the sixth buffer is used
        void Send(int count)
        {
            for (int i = 0; i < count; i++)
            {
                ulong b = d.Ram.Alloc(12 + 60);
                d.Ram.Memory.Fill(b, 72, 0);
                tx.AddChain(Buf.R(b, 72));
            }
            d.Kick(Tx);
        }
        Send(3);
        Assert.Equal(3, tx.UsedIndex);
        Assert.Equal(0, d.Interrupt.QueueInterrupts(Tx));
        Send(4);
        Assert.Equal(7, tx.UsedIndex);
        Assert.Equal(1, d.Interrupt.QueueInterrupts(Tx));
        Assert.Equal(7, tx.AvailEvent); // armed at the next available entry once the ring ran dry
    }

    private static void SendFrames(FakeDriver d, int count)
    {
        var tx = d.Queues[Tx];
        for (int i = 0; i < count; i++)
        {
            ulong b = d.Ram.Alloc(12 + 60);
            d.Ram.Memory.Fill(b, 72, 0);
            tx.AddChain(Buf.R(b, 72));
            d.Kick(Tx);
            d.Drain();
        }
    }

    /// <summary>With a transmit interrupt holdoff the used ring is still published at once (a driver that looks finds
    /// its buffers), and frames completed while an interrupt is held add none of their own.</summary>
    [Fact]
    public void A_held_transmit_interrupt_leaves_completions_published_and_covers_later_ones()
    {
        var backend = new FakeNetBackend();
        var net = new VirtioNet(backend, TestMac) { TransmitInterruptHoldoffMs = 600_000 };
        using var d = new FakeDriver(net, features: PlainFeatures);
        d.Activate();
        d.Drain();
        SendFrames(d, 3);
        Assert.Equal(3, backend.Sent.Count);
        Assert.Equal(3, d.Queues[Tx].UsedIndex);
        Assert.Equal(0, d.Interrupt.QueueInterrupts(Tx));
    }

    /// <summary>A held transmit interrupt comes once its time is up without another kick, even when only the receive
    /// queue is served meanwhile.</summary>
    [Fact]
    public void A_held_transmit_interrupt_comes_without_another_kick()
    {
        var backend = new FakeNetBackend();
        var net = new VirtioNet(backend, TestMac) { TransmitInterruptHoldoffMs = 5 };
        using var d = new FakeDriver(net, features: PlainFeatures);
        d.Activate();
        d.Drain();
        SendFrames(d, 1);
        d.Kick(Rx);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (d.Interrupt.QueueInterrupts(Tx) == 0 && DateTime.UtcNow < deadline)
            Thread.Sleep(1);
        Assert.Equal(1, d.Interrupt.QueueInterrupts(Tx));
        Assert.Equal(1, d.Queues[Tx].UsedIndex);
    }

    [Fact]
    public void Received_frames_waiting_for_buffers_are_delivered_together_with_one_interrupt()
    {
        var backend = new FakeNetBackend();
        using var d = new FakeDriver(new VirtioNet(backend, TestMac), features: PlainFeatures);
        d.Activate();
        for (int i = 0; i < 4; i++)
            Assert.True(backend.Inject(Frame(200 + i, i)));
        d.Drain();
        var rx = d.Queues[Rx];
        var buffers = new ulong[4];
        for (int i = 0; i < buffers.Length; i++)
        {
            buffers[i] = d.Ram.Alloc(2048);
            rx.AddChain(Buf.W(buffers[i], 2048));
        }
        d.Kick(Rx);

        for (int i = 0; i < buffers.Length; i++)
        {
            var (_, length) = rx.TakeUsed();
            Assert.Equal((uint)(12 + 200 + i), length);
            Assert.Equal(Frame(200 + i, i), d.Ram.Read(buffers[i] + 12, 200 + i));
        }
        Assert.Equal(1, d.Interrupt.QueueInterrupts(Rx));
    }

    /// <summary>Takes frames and keeps only a count, as a real backend hands them to a socket.</summary>
    private sealed class CountingBackend(bool checksumsVerified) : INetBackend
    {
        private FrameRing? _ring;
        public int Sent;
        public string Description => "counting";
        public bool CarriesVnetHeader => false;
        public ushort Mtu => 0;
        public bool ChecksumsVerified => checksumsVerified;
        public void Start(FrameRing toGuest) => _ring = toGuest;
        public void SetOffloads(ulong negotiatedFeatures) { }
        public bool Send(ReadOnlySpan<byte> frame) { Interlocked.Increment(ref Sent); return true; }
        public bool Inject(byte[] frame) => _ring!.Write(frame);
        public void Abort() { }
        public void Dispose() { }
    }

    /// <summary>One frame each way per round, each its own worker pass (kick, wake-up, serve, publish, interrupt); after
    /// a warm-up the worker's allocation count must not move across 40 more rounds. Run for a plain backend and for a
    /// local-stack one (transmit checksums completed here, received TCP merging looked at).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_worker_allocates_nothing_per_frame_in_either_direction(bool localStack)
    {
        var backend = new CountingBackend(localStack);
        var net = new VirtioNet(backend, TestMac);
        var probe = new WorkerAllocationProbe(queues: 2);
        using var d = new FakeDriver(net, features: net.OfferedFeatures & ~VirtioFeatures.RingEventIndex);
        net.Activate(new VirtioActivation(d.Ram.Memory, d.Features, [d.Queues[Rx].Config, d.Queues[Tx].Config], probe));
        d.Drain();
        var rx = d.Queues[Rx];
        var tx = d.Queues[Tx];
        ulong receiveBuffer = d.Ram.Alloc(4096), sendBuffer = d.Ram.Alloc(12 + 1514);
        d.Ram.Memory.Fill(sendBuffer, 12, 0);
        d.Ram.Memory.Write(sendBuffer + 12, Frame(1514, 1));
        var incoming = Frame(1514, 2);
        const int Rounds = 50, WarmUp = 10;
        for (int i = 0; i < Rounds; i++)
        {
            tx.AddChain(Buf.R(sendBuffer, 12 + 1514));
            d.Kick(Tx);
            tx.TakeUsed();
            rx.AddChain(Buf.W(receiveBuffer, 4096));
            Assert.True(backend.Inject(incoming));
            d.Drain();
            rx.TakeUsed();
        }

        Assert.Equal(Rounds, backend.Sent);
        Assert.Equal(Rounds, net.Counters.Received);
        foreach (int queue in new[] { Rx, Tx })
        {
            var readings = probe.Readings(queue);
            Assert.Equal(Rounds, readings.Length);
            Assert.True(readings[^1] == readings[WarmUp], $"queue {queue}: " + string.Join(",", readings.Select((r, i) => i == 0 ? 0 : r - readings[i - 1])));
        }
    }
}
