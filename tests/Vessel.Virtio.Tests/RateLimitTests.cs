using Vessel.Devices.RateLimiting;
using Vessel.Virtio.Block;
using Vessel.Virtio.Net;
using Vessel.Virtio.Tests.Net;

namespace Vessel.Virtio.Tests;

/// <summary>Rate limits through the fake driver, on a clock the test moves: a request the buckets cannot pay for
/// stays in the ring, untouched, until the clock has moved far enough.</summary>
public sealed class RateLimitTests : IDisposable
{
    private static readonly RateLimit OneOpPer100Ms = new(null, new BucketLimit(1, 0, 100));
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(150);

    private readonly TempImage _image = new(64 * 1024, i => (byte)(i * 13 + 1));
    private readonly ManualTime _time = new();

    public void Dispose() => _image.Dispose();

    private FakeDriver StartDisk(RateLimit limit)
    {
        var d = new FakeDriver(new VirtioBlock(new VirtioBlockOptions(_image.Path) { RateLimit = limit }, _time));
        d.Activate();
        return d;
    }

    /// <summary>A disk limited by <paramref name="limit"/> with two reads queued: the first is served at once, the
    /// second waits on the bucket.</summary>
    private FakeDriver StartThrottledDisk(RateLimit limit, out VirtioBlock block)
    {
        block = new VirtioBlock(new VirtioBlockOptions(_image.Path) { RateLimit = limit }, _time);
        var d = new FakeDriver(block);
        d.Activate();
        QueueRead(d, 0);
        QueueRead(d, 8);
        d.Kick();
        Assert.Equal((0u, 4097u), d.Queues[0].TakeUsed());
        return d;
    }

    /// <summary>Queues a 4 KiB read of sector <paramref name="sector"/>; returns its data buffer.</summary>
    private static ulong QueueRead(FakeDriver d, ulong sector)
    {
        ulong header = d.Ram.Alloc(16), data = d.Ram.Alloc(4096), status = d.Ram.Alloc(1, 1);
        d.Ram.Memory.WriteUInt32(header, VirtioBlock.TypeIn);
        d.Ram.Memory.WriteUInt32(header + 4, 0);
        d.Ram.Memory.WriteUInt64(header + 8, sector);
        d.Queues[0].AddChain(Buf.R(header, 16), Buf.W(data, 4096), Buf.W(status, 1));
        return data;
    }

    private static (uint Id, uint Length) WaitUsed(FakeQueue queue)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (queue.TryTakeUsed(out uint id, out uint length))
                return (id, length);
            Thread.Sleep(2);
        }
        throw new TimeoutException("the device did not complete the request after its bucket refilled");
    }

    private static void AssertNothingUsed(FakeQueue queue, string why)
    {
        Thread.Sleep(Settle);
        Assert.False(queue.TryTakeUsed(out _, out _), why);
    }

    [Fact]
    public void A_block_request_beyond_a_one_op_bucket_waits_for_the_refill_then_completes()
    {
        using var d = StartDisk(OneOpPer100Ms);
        ulong first = QueueRead(d, 0), second = QueueRead(d, 8);
        d.Kick();
        Assert.Equal((0u, 4097u), d.Queues[0].TakeUsed());
        Assert.Equal(_image.ReadAll()[..4096], d.Ram.Read(first, 4096));

        AssertNothingUsed(d.Queues[0], "the second request waits while the clock stands still");
        Assert.Equal((ushort)1, d.Queues[0].UsedIndex);
        _time.Advance(TimeSpan.FromMilliseconds(60));
        AssertNothingUsed(d.Queues[0], "60 ms of a 100 ms refill is not enough");
        _time.Advance(TimeSpan.FromMilliseconds(40));
        Assert.Equal((3u, 4097u), WaitUsed(d.Queues[0]));
        Assert.Equal(_image.ReadAll()[4096..8192], d.Ram.Read(second, 4096));
        Assert.Empty(d.Interrupt.Resets);
        Assert.InRange(((VirtioBlock)d.Device).RateLimit.ThrottledEvents, 1, 1000); // once per retry while the clock stood still
    }

    [Fact]
    public void A_bandwidth_bucket_charges_the_data_bytes()
    {
        // 6 KiB per second: one 4 KiB read goes, the next needs 2 KiB more, which takes a third of a second.
        using var d = StartDisk(new RateLimit(new BucketLimit(6144, 0, 1000), null));
        QueueRead(d, 0);
        QueueRead(d, 8);
        d.Kick();
        Assert.Equal((0u, 4097u), d.Queues[0].TakeUsed());
        _time.Advance(TimeSpan.FromMilliseconds(300));
        AssertNothingUsed(d.Queues[0], "1843 bytes of the 2048 missing have accrued");
        _time.Advance(TimeSpan.FromMilliseconds(40));
        Assert.Equal((3u, 4097u), WaitUsed(d.Queues[0]));
    }

    [Fact]
    public void Lifting_the_limit_of_a_running_disk_releases_the_waiting_request()
    {
        using var d = StartThrottledDisk(OneOpPer100Ms, out var block);
        AssertNothingUsed(d.Queues[0], "throttled");
        block.RateLimit.Update(new RateLimit(null, new BucketLimit(0, 0, 0)));
        Assert.Equal(RateLimit.None, block.RateLimit.Limit);
        Assert.Equal((3u, 4097u), WaitUsed(d.Queues[0]));
    }

    [Fact]
    public void A_paused_disk_stays_paused_when_its_bucket_refills_and_serves_at_resume()
    {
        using var d = StartThrottledDisk(OneOpPer100Ms, out var block);
        Assert.True(block.Pause());
        _time.Advance(TimeSpan.FromSeconds(1));
        AssertNothingUsed(d.Queues[0], "a paused device serves nothing, tokens or not");
        block.Resume();
        Assert.Equal((3u, 4097u), WaitUsed(d.Queues[0]));
    }

    [Fact]
    public async Task A_throttled_disk_resets_and_disposes_without_waiting_for_its_bucket()
    {
        // A bucket that refills once a day: the worker is asleep on it when the driver resets and the VM ends.
        var d = StartThrottledDisk(new(null, new BucketLimit(1, 0, 86_400_000)), out var block);
        await Task.Run(block.Reset).WaitAsync(TimeSpan.FromSeconds(10)); // a TimeoutException: reset waited for the bucket
        Assert.False(d.Queues[0].TryTakeUsed(out _, out _));
        await Task.Run(d.Dispose).WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void A_transmitted_frame_beyond_a_one_op_bucket_waits_for_the_refill()
    {
        var backend = new FakeNetBackend();
        var net = new VirtioNet(backend, new MacAddress(0x52, 0x54, 0, 1, 2, 3), time: _time);
        net.TransmitRateLimit.Update(OneOpPer100Ms);
        using var d = new FakeDriver(net);
        d.Activate();
        var tx = d.Queues[VirtioNet.TransmitQueue];
        for (int i = 0; i < 2; i++)
        {
            ulong frame = d.Ram.Alloc(12 + 60);
            d.Ram.Memory.Fill(frame, 72, (byte)(i + 1));
            d.Ram.Memory.Fill(frame, 12, 0);
            tx.AddChain(Buf.R(frame, 72));
        }
        d.Kick(VirtioNet.TransmitQueue);
        Assert.Single(backend.Sent);
        Assert.Equal((0u, 0u), tx.TakeUsed());
        AssertNothingUsed(tx, "the second frame waits for its op");
        Assert.Single(backend.Sent);
        _time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.Equal((1u, 0u), WaitUsed(tx));
        Assert.Equal(Enumerable.Repeat((byte)2, 60), backend.Sent[1]);
        Assert.True(net.TransmitRateLimit.ThrottledEvents >= 1);
        Assert.Equal(0, net.ReceiveRateLimit.ThrottledEvents);
        Assert.Equal(RateLimit.None, net.ReceiveRateLimit.Limit);
    }

    [Fact]
    public void A_received_frame_beyond_the_bandwidth_bucket_stays_in_the_ring_until_the_refill()
    {
        var backend = new FakeNetBackend();
        var net = new VirtioNet(backend, new MacAddress(0x52, 0x54, 0, 1, 2, 4), time: _time);
        net.ReceiveRateLimit.Update(new RateLimit(new BucketLimit(1000, 0, 1000), null));
        using var d = new FakeDriver(net);
        d.Activate();
        var rx = d.Queues[VirtioNet.ReceiveQueue];
        for (int i = 0; i < 2; i++)
            rx.AddChain(Buf.W(d.Ram.Alloc(2048), 2048));
        d.Kick(VirtioNet.ReceiveQueue);
        Assert.True(backend.Inject(new byte[600]));
        Assert.True(backend.Inject(new byte[600]));
        d.Drain();
        Assert.Equal((0u, 612u), rx.TakeUsed());
        AssertNothingUsed(rx, "400 bytes are left of 1000; the second frame needs 600");
        Assert.Equal(1, net.State.FramesWaitingForTheGuest);
        _time.Advance(TimeSpan.FromMilliseconds(200));
        Assert.Equal((1u, 612u), WaitUsed(rx));
        Assert.Equal(2, net.Counters.Received);
    }
}
