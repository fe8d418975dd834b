using Vessel.Virtio.Net;

namespace Vessel.Virtio.Tests.Net;

public sealed class FrameRingTests
{
    private static byte[] Frame(int length, byte seed)
    {
        var f = new byte[length];
        for (int i = 0; i < length; i++) f[i] = (byte)(seed + i);
        return f;
    }

    /// <summary>TryPeekAt sees every waiting frame in order, also across the ring's wrap to its start.</summary>
    [Fact]
    public void Peeking_behind_the_oldest_frame_follows_the_ring_across_wraps()
    {
        var ring = new FrameRing(4096, 1000);
        ring.SetAccepting(true);
        var waiting = new List<byte[]>();
        for (int round = 0; round < 200; round++)
        {
            var f = Frame(300 + round % 7 * 97, (byte)round);
            Assert.True(ring.TryWrite(f));
            waiting.Add(f);
            for (int i = 0; i < waiting.Count; i++)
            {
                Assert.True(ring.TryPeekAt(i, out var seen));
                Assert.Equal(waiting[i], seen.ToArray());
            }
            Assert.False(ring.TryPeekAt(waiting.Count, out _));
            if (waiting.Count == 3)
            {
                ring.Pop();
                waiting.RemoveAt(0);
            }
        }
    }

    [Fact]
    public void Frames_come_out_in_order_across_many_wrap_arounds()
    {
        var ring = new FrameRing(4096, 1000);
        ring.SetAccepting(true);
        var random = new Random(7);
        var queue = new Queue<byte[]>();
        for (int round = 0; round < 5000; round++)
        {
            // Keep writing while the frame fits (Write would wait otherwise: test that separately).
            var f = Frame(random.Next(0, 1001), (byte)round);
            if (queue.Count < 3)
            {
                Assert.True(ring.Write(f));
                queue.Enqueue(f);
            }
            if (queue.Count > 0 && random.Next(2) == 0)
            {
                Assert.True(ring.TryPeek(out var got));
                Assert.Equal(queue.Dequeue(), got.ToArray());
                ring.Pop();
            }
        }
        while (queue.Count > 0)
        {
            Assert.True(ring.TryPeek(out var got));
            Assert.Equal(queue.Dequeue(), got.ToArray());
            ring.Pop();
        }
        Assert.False(ring.TryPeek(out _));
    }

    [Fact]
    public void A_full_ring_makes_the_writer_wait_until_the_reader_frees_room()
    {
        var ring = new FrameRing(4096, 1000);
        ring.SetAccepting(true);
        int written = 0;
        while (ring.Count < 4) { Assert.True(ring.Write(Frame(1000, (byte)written))); written++; }
        var writer = new Thread(() => { ring.Write(Frame(1000, 99)); Interlocked.Increment(ref written); });
        writer.Start();
        Assert.False(writer.Join(200), "the writer did not wait for room");
        Assert.Equal(4, ring.Count);
        Assert.True(ring.TryPeek(out _));
        ring.Pop();
        Assert.True(writer.Join(30_000));
        Assert.Equal(4, ring.Count);
    }

    [Fact]
    public void An_inactive_ring_drops_frames_and_a_closed_one_releases_its_writer()
    {
        var ring = new FrameRing(4096, 1000);
        Assert.False(ring.Write(Frame(10, 1)));
        Assert.Equal(0, ring.Count);
        ring.SetAccepting(true);
        Assert.False(ring.Write(Frame(1001, 1)), "a frame above the maximum is dropped");
        while (ring.Count < 4) ring.Write(Frame(1000, 1));
        bool? result = null;
        var writer = new Thread(() => result = ring.Write(Frame(1000, 2)));
        writer.Start();
        Thread.Sleep(50);
        ring.Close();
        Assert.True(writer.Join(30_000));
        Assert.False(result);
    }

    [Fact]
    public void TryWrite_drops_and_counts_a_frame_that_does_not_fit_instead_of_waiting()
    {
        var ring = new FrameRing(4096, 1000);
        ring.SetAccepting(true);
        for (int i = 0; i < 4; i++) Assert.True(ring.TryWrite(Frame(1000, (byte)i)));
        Assert.False(ring.TryWrite(Frame(1000, 9)));
        Assert.Equal(1, ring.Overruns);
        Assert.Equal(4, ring.Count);
        Assert.True(ring.TryPeek(out var first));
        Assert.Equal(Frame(1000, 0), first.ToArray());
    }

    [Fact]
    public void A_write_told_to_drop_instead_waits_while_not_told_and_drops_when_told()
    {
        var ring = new FrameRing(4096, 1000);
        ring.SetAccepting(true);
        int overrunCalls = 0;
        ring.SetOverrunListener(() => Interlocked.Increment(ref overrunCalls));
        for (int i = 0; i < 4; i++) Assert.True(ring.TryWrite(Frame(1000, (byte)i)));
        bool dropNow = false;
        bool? waited = null;
        var writer = new Thread(() => waited = ring.Write(Frame(1000, 8), () => Volatile.Read(ref dropNow)));
        writer.Start();
        Assert.False(writer.Join(3 * FrameRing.RecheckMs), "the writer waits for room while not told to drop");
        ring.Pop();
        Assert.True(writer.Join(30_000));
        Assert.True(waited);
        Assert.Equal(0, ring.Overruns);

        bool? dropped = null;
        writer = new Thread(() => dropped = ring.Write(Frame(1000, 9), () => Volatile.Read(ref dropNow)));
        writer.Start();
        Assert.False(writer.Join(3 * FrameRing.RecheckMs));
        Volatile.Write(ref dropNow, true); // no Pop, no pulse: the writer asks again on its own
        Assert.True(writer.Join(30_000));
        Assert.False(dropped);
        Assert.Equal(1, ring.Overruns);
        Assert.Equal(1, overrunCalls);
        Assert.Equal(4, ring.Count);
    }
}
