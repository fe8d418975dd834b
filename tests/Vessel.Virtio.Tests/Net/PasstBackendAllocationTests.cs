using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Vessel.Virtio.Net;
using Vessel.Virtio.Net.Backends;
using Vessel.Virtio.Tests.Vsock;

namespace Vessel.Virtio.Tests.Net;

/// <summary>
/// The passt backend's data path both ways allocates nothing per frame: its send (the device's worker thread) and its
/// reader thread. passt is stood in for by a script that takes the same arguments and sends every byte of the stream
/// back, so each frame sent comes back through the reader into the device's ring.
/// </summary>
public sealed class PasstBackendAllocationTests
{
    private const string LoopbackPasst = """
        #!/usr/bin/env python3
        import os, sys
        fd = int(sys.argv[sys.argv.index("--fd") + 1])
        while True:
            data = os.read(fd, 1 << 16)
            if not data:
                break
            while data:
                data = data[os.write(fd, data):]
        """;

    /// <summary>The reader thread's allocation count, read each time it hands the ring a frame (the ring calls its
    /// listener on the writer's thread, outside its lock).</summary>
    private sealed class ReaderProbe
    {
        public const int Capacity = 256;
        private readonly long[] _readings = new long[Capacity];
        private int _count;

        public void OnFrame()
        {
            int at = Interlocked.Increment(ref _count) - 1;
            if (at < Capacity)
                _readings[at] = GC.GetAllocatedBytesForCurrentThread();
        }

        public int Count => Volatile.Read(ref _count);
        public long[] Readings => _readings[..Math.Min(Count, Capacity)];
    }

    [Fact]
    public void Sends_and_the_reader_allocate_nothing_per_frame()
    {
        if (!File.Exists("/usr/bin/python3"))
            return; // the stand-in needs python3 (every machine the tests run on has it)
        using var dir = new TempDirectory();
        string fake = Path.Combine(dir.Path, "passt");
        File.WriteAllText(fake, LoopbackPasst.Replace("\r", ""));
        File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using var backend = PasstBackend.Start([], NullLogger.Instance, fake);
        var ring = new FrameRing(4 << 20, NetFeatures.MaxFrameBytes);
        ring.SetAccepting(true);
        var probe = new ReaderProbe();
        ring.SetListener(probe.OnFrame);
        backend.Start(ring);

        var frame = new byte[1514];
        for (int i = 0; i < frame.Length; i++) frame[i] = (byte)(i * 11 + 3);
        const int WarmUp = 10, Rounds = 60;
        long sendBytes = 0;
        for (int i = 0; i < Rounds; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            Assert.True(backend.Send(frame));
            if (i >= WarmUp)
                sendBytes += GC.GetAllocatedBytesForCurrentThread() - before;
            WaitFor(() => probe.Count > i);
            Assert.True(ring.TryPeek(out var back));
            Assert.Equal(frame, back.ToArray());
            ring.Pop();
        }

        Assert.Equal(0, sendBytes);
        var readings = probe.Readings;
        Assert.Equal(Rounds, readings.Length);
        Assert.True(readings[^1] == readings[WarmUp], "reader: " + string.Join(",", readings.Select((r, i) => i == 0 ? 0 : r - readings[i - 1])));
    }

    private static void WaitFor(Func<bool> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), "the frame did not come back from the stand-in passt");
            Thread.Sleep(1);
        }
    }
}
