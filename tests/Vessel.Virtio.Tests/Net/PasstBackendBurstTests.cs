using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Vessel.Virtio.Net;
using Vessel.Virtio.Net.Backends;
using Vessel.Virtio.Tests.Vsock;

namespace Vessel.Virtio.Tests.Net;

/// <summary>
/// passt sends its frames for the guest with MSG_DONTWAIT and drops what its socket will not take. A stand-in that
/// does the same sends a burst of 32 KiB frames at start-up, while nothing reads the other end yet (as when the
/// reader thread waits for a core on a loaded host), then a last frame with a blocking send: every frame of the burst
/// must reach the device's ring, in order and intact. With the socket's default send buffer (net.core.wmem_default,
/// about 208 KiB) six would.
/// </summary>
public sealed class PasstBackendBurstTests
{
    private const int BurstFrames = 48, FrameBytes = 32 << 10;

    private const string BurstingPasst = """
        #!/usr/bin/env python3
        import os, socket, struct, sys
        fd = int(sys.argv[sys.argv.index("--fd") + 1])
        s = socket.socket(fileno=fd)
        sent = 0
        for i in range(48):
            frame = struct.pack(">I", 32768) + bytes([i]) * 32768
            try:
                n = s.send(frame, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            s.sendall(frame[n:])
        open(os.path.join(os.path.dirname(sys.argv[0]), "burst-sent"), "w").close()
        s.sendall(struct.pack(">I", 1) + b"\xff")
        while s.recv(1 << 16):
            pass
        """;

    [Fact]
    public void A_burst_passt_sends_without_waiting_reaches_the_ring_whole()
    {
        if (!File.Exists("/usr/bin/python3"))
            return; // the stand-in needs python3 (every machine the tests run on has it)
        if (Environment.UserName != "root" && long.Parse(File.ReadAllText("/proc/sys/net/core/wmem_max").Trim()) < PasstBackend.PasstSendBufferBytes)
            return; // neither CAP_NET_ADMIN nor a wmem_max that lets an unprivileged process raise the buffer this far
        using var dir = new TempDirectory();
        string fake = Path.Combine(dir.Path, "passt");
        File.WriteAllText(fake, BurstingPasst.Replace("\r", ""));
        File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using var backend = PasstBackend.Start([], NullLogger.Instance, fake);
        var watch = Stopwatch.StartNew();
        while (!File.Exists(Path.Combine(dir.Path, "burst-sent")))
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), "the stand-in did not send its burst");
            Thread.Sleep(5);
        }
        var ring = new FrameRing(4 << 20, NetFeatures.MaxFrameBytes);
        ring.SetAccepting(true);
        backend.Start(ring); // only now does anything read the socket

        var received = new List<byte>();
        while (true)
        {
            if (!ring.TryPeek(out var frame))
            {
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"the last frame did not come; {received.Count} of the burst did");
                Thread.Sleep(1);
                continue;
            }
            if (frame.Length == 1 && frame[0] == 0xff)
                break;
            Assert.Equal(FrameBytes, frame.Length);
            Assert.True(frame.IndexOfAnyExcept(frame[0]) < 0, "a frame's bytes differ");
            received.Add(frame[0]);
            ring.Pop();
        }
        Assert.Equal(Enumerable.Range(0, BurstFrames).Select(i => (byte)i), received);
    }
}
