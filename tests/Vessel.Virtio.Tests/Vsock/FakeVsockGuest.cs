using System.Net.Sockets;
using Vessel.Virtio.Vsock;

namespace Vessel.Virtio.Tests.Vsock;

/// <summary>The guest's vsock transport over a <see cref="FakeDriver"/>: sends packets on the transmit queue,
/// keeps receive buffers posted (recycling them) and reads what the device wrote.</summary>
internal sealed class FakeVsockGuest : IDisposable
{
    public const ulong Cid = 7;
    private const int RxBuffers = 16, RxBufferBytes = 4096 + VsockHeader.Size;

    private readonly Dictionary<uint, ulong> _rxAddress = [];
    private readonly ulong _txBuffer;

    public FakeVsockGuest(string udsPath)
    {
        Device = new VirtioVsock(new VsockOptions(Cid, udsPath));
        Driver = new FakeDriver(Device);
        _txBuffer = Driver.Ram.Alloc(VsockHeader.Size + 65536);
        for (int i = 0; i < RxBuffers; i++)
        {
            ulong a = Driver.Ram.Alloc(RxBufferBytes);
            _rxAddress[Driver.Queues[VirtioVsock.ReceiveQueue].AddChain(Buf.W(a, RxBufferBytes))] = a;
        }
        Driver.Activate();
    }

    public VirtioVsock Device { get; }
    public FakeDriver Driver { get; }

    /// <summary>What the guest advertises with every packet.</summary>
    public uint BufferAllocation = 1 << 20, ForwardCount;

    public void Send(VsockOp op, uint sourcePort, uint destinationPort, ReadOnlySpan<byte> payload = default, uint flags = 0)
    {
        var h = new VsockHeader
        {
            SourceCid = Cid, DestinationCid = VsockHeader.HostCid, SourcePort = sourcePort, DestinationPort = destinationPort,
            Length = (uint)payload.Length, Type = VsockHeader.TypeStream, Op = op, Flags = flags,
            BufferAllocation = BufferAllocation, ForwardCount = ForwardCount,
        };
        var raw = new byte[VsockHeader.Size];
        h.Write(raw);
        Driver.Ram.Memory.Write(_txBuffer, raw);
        Driver.Ram.Memory.Write(_txBuffer + VsockHeader.Size, payload);
        Driver.Queues[VirtioVsock.TransmitQueue].AddChain(Buf.R(_txBuffer, (uint)(VsockHeader.Size + payload.Length)));
        Driver.Kick(VirtioVsock.TransmitQueue);
        Assert.True(Driver.Queues[VirtioVsock.TransmitQueue].TryTakeUsed(out _, out _));
    }

    /// <summary>The next packet the device sent, waiting up to <paramref name="timeout"/>; its buffer is re-posted.</summary>
    public (VsockHeader Header, byte[] Payload)? Receive(TimeSpan timeout)
    {
        var rx = Driver.Queues[VirtioVsock.ReceiveQueue];
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            Driver.Drain();
            if (rx.TryTakeUsed(out uint id, out uint length))
            {
                ulong a = _rxAddress[id];
                var bytes = Driver.Ram.Read(a, (int)length);
                var h = VsockHeader.Read(bytes);
                Assert.Equal(VsockHeader.Size + h.Length, length);
                _rxAddress.Remove(id);
                _rxAddress[rx.AddChain(Buf.W(a, RxBufferBytes))] = a;
                Driver.Device.QueueNotify(VirtioVsock.ReceiveQueue);
                return (h, bytes[VsockHeader.Size..]);
            }
            if (DateTime.UtcNow > deadline) return null;
            Thread.Sleep(2);
        }
    }

    public (VsockHeader Header, byte[] Payload) Expect(VsockOp op)
    {
        var p = Receive(TimeSpan.FromSeconds(10));
        Assert.True(p.HasValue, $"no {op} from the device");
        Assert.Equal(op, p.Value.Header.Op);
        Assert.Equal(VsockHeader.HostCid, p.Value.Header.SourceCid);
        Assert.Equal(Cid, p.Value.Header.DestinationCid);
        return p.Value;
    }

    /// <summary>Collects stream bytes from RW packets until <paramref name="count"/> have arrived.</summary>
    public byte[] ReadStream(int count, bool updateCredit = true)
    {
        var data = new List<byte>();
        while (data.Count < count)
        {
            var p = Receive(TimeSpan.FromSeconds(10));
            Assert.True(p.HasValue, $"the stream stopped after {data.Count} of {count} bytes");
            var (h, payload) = p.Value;
            if (h.Op == VsockOp.CreditUpdate) continue; // Vessel forwarded guest bytes to the host
            Assert.Equal(VsockOp.ReadWrite, h.Op);
            data.AddRange(payload);
            ForwardCount += h.Length;
            if (updateCredit) Send(VsockOp.CreditUpdate, h.DestinationPort, h.SourcePort);
        }
        return [.. data];
    }

    public void Dispose() => Driver.Dispose();
}

internal sealed class TempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("vessel-vsock-").FullName;
    public void Dispose() => Directory.Delete(Path, recursive: true);
}

internal static class UnixSockets
{
    public static Socket Listen(string path)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Bind(new UnixDomainSocketEndPoint(path));
        s.Listen(4);
        return s;
    }

    public static Socket Connect(string path)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Connect(new UnixDomainSocketEndPoint(path));
        s.ReceiveTimeout = 10_000;
        return s;
    }

    public static byte[] ReadExactly(Socket s, int count)
    {
        var b = new byte[count];
        int done = 0;
        while (done < count)
        {
            int n = s.Receive(b, done, count - done, SocketFlags.None);
            if (n == 0) throw new EndOfStreamException($"EOF after {done} of {count} bytes");
            done += n;
        }
        return b;
    }

    public static string ReadLine(Socket s)
    {
        var line = new List<byte>();
        var one = new byte[1];
        while (s.Receive(one) == 1 && one[0] != '\n') line.Add(one[0]);
        return System.Text.Encoding.ASCII.GetString([.. line]);
    }
}
