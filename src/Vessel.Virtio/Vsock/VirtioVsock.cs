using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Vessel.Virtio.Devices;
using Vessel.Virtio.Queues;

namespace Vessel.Virtio.Vsock;

/// <summary>`--vsock cid=N,uds=PATH`: the guest's context ID and the host-side Unix socket path.</summary>
public sealed record VsockOptions(ulong GuestCid, string UdsPath)
{
    public const ulong FirstGuestCid = 3, LastGuestCid = 0xFFFF_FFFE;
}

/// <summary>A vsock device could not be set up; the message is the one line the user sees.</summary>
public sealed class VsockException(string message) : Exception(message);

/// <summary>
/// virtio-vsock (virtio 1.x, 5.10), stream sockets only, with Firecracker's host-side convention: a host program
/// connects to the Unix socket at PATH and writes `CONNECT &lt;port&gt;\n`; once the guest accepts, it reads
/// `OK &lt;hostport&gt;\n` and the socket carries the stream. A guest connecting to CID 2 port P reaches a program
/// listening on the Unix socket `PATH_P`. Credit-based flow control both ways bounds what Vessel buffers per stream.
/// Queues: 0 receive (device → driver), 1 transmit, 2 events (never used).
/// </summary>
public sealed class VirtioVsock : QueuedVirtioDevice
{
    public const ushort QueueSize = 256;
    public const int ReceiveQueue = 0, TransmitQueue = 1, EventQueue = 2;
    private const int MaxOrphanResets = 64;
    private const int MaxPayload = 64 * 1024;
    private const uint FirstLocalPort = 1u << 30;

    private readonly object _sync = new();
    private readonly VsockOptions _options;
    private readonly Socket _listener;
    private readonly Thread _acceptor;
    private readonly List<VsockConnection> _connections = [];
    private readonly (uint Source, uint Destination)[] _orphanResets = new (uint, uint)[MaxOrphanResets];
    private readonly byte[] _payload = new byte[MaxPayload];
    private int _orphanCount;
    private uint _nextLocalPort = FirstLocalPort;
    private int _serveCursor;
    private volatile bool _active;
    private volatile bool _disposed;

    public VirtioVsock(VsockOptions options) : base("vsock")
    {
        if (options.GuestCid is < VsockOptions.FirstGuestCid or > VsockOptions.LastGuestCid)
            throw new VsockException($"--vsock cid={options.GuestCid}: the guest's CID must be from 3 to {VsockOptions.LastGuestCid} (0-2 are reserved)");
        if (File.Exists(options.UdsPath) || Directory.Exists(options.UdsPath))
            throw new VsockException($"--vsock uds={options.UdsPath}: the path already exists (a stale socket? remove it)");
        _options = options;
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            _listener.Bind(new UnixDomainSocketEndPoint(options.UdsPath));
            _listener.Listen(16);
        }
        catch (SocketException e)
        {
            _listener.Dispose();
            throw new VsockException($"--vsock uds={options.UdsPath}: cannot listen there: {e.Message}");
        }
        _acceptor = new Thread(AcceptHostConnections) { IsBackground = true, Name = "vsock accept" };
        _acceptor.Start();
    }

    public ulong GuestCid => _options.GuestCid;

    public override VirtioDeviceType DeviceType => VirtioDeviceType.Vsock;

    public override ulong OfferedFeatures =>
        VirtioFeatures.Version1 | VirtioFeatures.RingIndirectDescriptors | VirtioFeatures.RingEventIndex;

    public override int QueueCount => 3;
    public override ushort MaxQueueSize(int queueIndex) => QueueSize;

    /// <summary>struct virtio_vsock_config: le64 guest_cid.</summary>
    public override int ConfigSize => 8;

    public override void ReadConfig(int offset, Span<byte> data)
    {
        Span<byte> config = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(config, _options.GuestCid);
        CopyConfig(config, offset, data);
    }

    public override void WriteConfig(int offset, ReadOnlySpan<byte> data) { }

    /// <summary>Open streams (tests, and the bound a hostile guest cannot push past).</summary>
    public int ConnectionCount { get { lock (_sync) return _connections.Count; } }

    protected override void OnActivate(VirtioActivation activation) => _active = true;

    protected override void OnReset()
    {
        _active = false;
        lock (_sync)
        {
            foreach (var c in _connections) c.Abort();
            _connections.Clear();
            _orphanCount = 0;
        }
    }

    protected override void OnDispose()
    {
        _disposed = true;
        OnReset();
        _listener.Dispose();
        _acceptor.Join();
        try { File.Delete(_options.UdsPath); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    protected override int ServeQueue(int queueIndex, SplitQueue queue, DescriptorChain chain)
    {
        if (queueIndex == TransmitQueue)
            FromGuest(queue, chain);
        else if (queueIndex == ReceiveQueue)
            ToGuest(queue, chain);
        // Event buffers stay with the device: no transport reset is ever reported.
        return -1;
    }

    // ---- guest → device --------------------------------------------------------------------------------------

    /// <summary>Handles every packet the driver offers. Completions are published a burst at a time (every packet
    /// found before the ring ran dry, at most <see cref="CompletionBurst"/>) with at most one interrupt each, as
    /// virtio-net does: on the software CPU an interrupt costs the guest more than the packet.</summary>
    private void FromGuest(SplitQueue queue, DescriptorChain chain)
    {
        bool any = false;
        do
        {
            int completed = 0;
            while (queue.TryPop(chain) == PopResult.Chain)
            {
                HandleGuestPacket(chain);
                queue.AddUsedUnpublished(chain.Head, 0);
                any = true;
                if (++completed == CompletionBurst)
                {
                    PublishCompleted(queue, TransmitQueue);
                    completed = 0;
                }
            }
            if (completed > 0)
                PublishCompleted(queue, TransmitQueue);
            if (queue.Violation != null)
                return;
        } while (queue.ArmNotification());
        if (any)
            Wake(); // replies and freed credit go out on the receive queue
    }

    /// <summary>The most transmit completions held back before they are published (a quarter of the ring: the guest
    /// gets buffers back while it still has room to queue more).</summary>
    private const int CompletionBurst = QueueSize / 4;

    private void PublishCompleted(SplitQueue queue, int queueIndex)
    {
        queue.PublishUsed();
        if (queue.ShouldInterrupt())
            RaiseQueueInterrupt(queueIndex);
    }

    private void HandleGuestPacket(DescriptorChain chain)
    {
        if (chain.ReadableBytes < VsockHeader.Size)
            return;
        Span<byte> raw = stackalloc byte[VsockHeader.Size];
        chain.ReadFrom(0, raw);
        var h = VsockHeader.Read(raw);
        if (h.SourceCid != _options.GuestCid || h.DestinationCid != VsockHeader.HostCid)
            return; // not addressed to the host, or spoofed: dropped, as the spec says
        if (h.Type != VsockHeader.TypeStream)
        {
            if (h.Op != VsockOp.Reset) QueueOrphanReset(h.DestinationPort, h.SourcePort);
            return;
        }
        if (h.Op == VsockOp.Request)
        {
            ConnectForGuest(h);
            return;
        }
        lock (_sync)
        {
            var c = Find(h.DestinationPort, h.SourcePort);
            if (c == null)
            {
                if (h.Op != VsockOp.Reset) QueueOrphanReset(h.DestinationPort, h.SourcePort);
                return;
            }
            c.PeerBufferAllocation = h.BufferAllocation;
            c.PeerForwardCount = h.ForwardCount;
            switch (h.Op)
            {
                case VsockOp.Response:
                    if (!c.Connected && !c.SendRequest)
                    {
                        c.Connected = true;
                        if (!TrySendLine(c.Socket, $"OK {c.LocalPort}\n")) { Remove(c, reset: true); return; }
                        c.StartIo();
                    }
                    break;
                case VsockOp.ReadWrite:
                    ulong available = chain.ReadableBytes - VsockHeader.Size;
                    if (!c.Connected || h.Length > available || h.Length > (uint)c.ToHost.Free || c.GuestStoppedSending)
                    {
                        // Malformed, or past the credit we gave: the stream is reset rather than buffered without bound.
                        Remove(c, reset: true);
                        return;
                    }
                    CopyToHost(chain, c, (int)h.Length);
                    break;
                case VsockOp.CreditRequest:
                    c.SendCreditUpdate = true;
                    break;
                case VsockOp.Shutdown:
                    bool send = (h.Flags & VsockHeader.ShutdownSend) != 0, receive = (h.Flags & VsockHeader.ShutdownReceive) != 0;
                    if (send && receive)
                    {
                        _connections.Remove(c);
                        c.FinishAfterDrain();
                        QueueOrphanReset(c.LocalPort, c.PeerPort);
                    }
                    else
                    {
                        if (send) { c.GuestStoppedSending = true; Monitor.PulseAll(_sync); }
                        if (receive) c.GuestStoppedReceiving = true;
                    }
                    break;
                case VsockOp.Reset:
                    _connections.Remove(c);
                    c.Abort();
                    break;
            }
        }
    }

    private void CopyToHost(DescriptorChain chain, VsockConnection c, int length)
    {
        int done = 0;
        while (done < length)
        {
            int n = Math.Min(length - done, _payload.Length);
            chain.ReadFrom((ulong)(VsockHeader.Size + done), _payload.AsSpan(0, n));
            c.ToHost.Write(_payload.AsSpan(0, n));
            done += n;
        }
        Monitor.PulseAll(_sync);
    }

    /// <summary>The guest connects to the host: PATH_port must have a listener.</summary>
    private void ConnectForGuest(VsockHeader h)
    {
        lock (_sync)
        {
            if (Find(h.DestinationPort, h.SourcePort) != null)
            {
                QueueOrphanReset(h.DestinationPort, h.SourcePort);
                return;
            }
        }
        // Non-blocking: a Unix connect completes at once or fails, and a listener whose backlog is full (EAGAIN)
        // must not stall the worker: the guest gets a reset, as for a port nobody listens on.
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { Blocking = false };
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint($"{_options.UdsPath}_{h.DestinationPort.ToString(CultureInfo.InvariantCulture)}"));
            socket.Blocking = true;
        }
        catch (SocketException)
        {
            socket.Dispose();
            lock (_sync) QueueOrphanReset(h.DestinationPort, h.SourcePort);
            return;
        }
        lock (_sync)
        {
            var c = new VsockConnection(_sync, socket, h.DestinationPort, h.SourcePort, Wake)
            {
                Connected = true,
                SendResponse = true,
                PeerBufferAllocation = h.BufferAllocation,
                PeerForwardCount = h.ForwardCount,
            };
            _connections.Add(c);
            c.StartIo();
        }
    }

    // ---- device → guest --------------------------------------------------------------------------------------

    /// <summary>Fills receive buffers while there is something for the guest; each packet is published as it lands
    /// (a driver already polling takes it at once), and the pass ends with at most one interrupt for all of them.</summary>
    private void ToGuest(SplitQueue queue, DescriptorChain chain)
    {
        lock (_sync)
            FillReceiveBuffers(queue, chain);
        if (queue.ShouldInterrupt())
            RaiseQueueInterrupt(ReceiveQueue);
    }

    private void FillReceiveBuffers(SplitQueue queue, DescriptorChain chain)
    {
        while (HasWorkForGuest())
        {
            var result = queue.TryPop(chain);
            if (result == PopResult.Broken)
                return;
            if (result == PopResult.Empty)
            {
                if (queue.ArmNotification()) continue;
                return;
            }
            if (chain.WritableBytes < VsockHeader.Size)
            {
                queue.MarkBroken($"vsock receive buffer {chain.Head} holds {chain.WritableBytes} bytes, less than a header");
                return;
            }
            uint written = WriteNextPacket(chain, queue);
            queue.AddUsed(chain.Head, written);
        }
    }

    private bool HasWorkForGuest()
    {
        if (_orphanCount > 0)
            return true;
        foreach (var c in _connections)
            if (Pending(c))
                return true;
        return false;
    }

    private static bool Pending(VsockConnection c) =>
        c.SendReset || c.SendRequest || c.SendResponse || c.SendCreditUpdate ||
        c.Connected && !c.GuestStoppedReceiving && c.ToGuest.Count > 0 && c.PeerCredit > 0 ||
        c.Connected && c.HostEnded && c.ToGuest.Count == 0 && !c.ShutdownSent;

    /// <summary>One packet into <paramref name="chain"/>: a pending reset first, then connections in turn.</summary>
    private uint WriteNextPacket(DescriptorChain chain, SplitQueue queue)
    {
        Span<byte> raw = stackalloc byte[VsockHeader.Size];
        var h = new VsockHeader { SourceCid = VsockHeader.HostCid, DestinationCid = _options.GuestCid, Type = VsockHeader.TypeStream };
        if (_orphanCount > 0)
        {
            var (source, destination) = _orphanResets[--_orphanCount];
            h.SourcePort = source;
            h.DestinationPort = destination;
            h.Op = VsockOp.Reset;
            h.Write(raw);
            chain.WriteTo(0, raw, queue.Memory);
            return VsockHeader.Size;
        }
        for (int i = 0; i < _connections.Count; i++)
        {
            var c = _connections[(_serveCursor + i) % _connections.Count];
            if (!Pending(c))
                continue;
            _serveCursor = (_serveCursor + i + 1) % Math.Max(1, _connections.Count);
            h.SourcePort = c.LocalPort;
            h.DestinationPort = c.PeerPort;
            h.BufferAllocation = VsockConnection.BufferAllocation;
            h.ForwardCount = c.ForwardCount;
            c.AdvertisedForwardCount = c.ForwardCount;
            c.SendCreditUpdate = false;
            uint length = 0;
            if (c.SendReset)
            {
                h.Op = VsockOp.Reset;
                _connections.Remove(c);
                c.Abort();
            }
            else if (c.SendRequest)
            {
                h.Op = VsockOp.Request;
                c.SendRequest = false;
            }
            else if (c.SendResponse)
            {
                h.Op = VsockOp.Response;
                c.SendResponse = false;
            }
            else if (c.Connected && !c.GuestStoppedReceiving && c.ToGuest.Count > 0 && c.PeerCredit > 0)
            {
                h.Op = VsockOp.ReadWrite;
                int room = (int)Math.Min(chain.WritableBytes - VsockHeader.Size, (ulong)MaxPayload);
                int take = Math.Min(Math.Min(room, c.ToGuest.Count), (int)Math.Min(c.PeerCredit, int.MaxValue));
                int done = 0;
                while (done < take)
                {
                    var data = c.ToGuest.DataSpan();
                    int n = Math.Min(data.Length, take - done);
                    chain.WriteTo((ulong)(VsockHeader.Size + done), data[..n], queue.Memory);
                    c.ToGuest.Consume(n);
                    done += n;
                }
                c.SentToGuest += (uint)take;
                length = (uint)take;
                Monitor.PulseAll(_sync); // the reader may fill again
            }
            else if (c.Connected && c.HostEnded && c.ToGuest.Count == 0 && !c.ShutdownSent)
            {
                h.Op = VsockOp.Shutdown;
                h.Flags = VsockHeader.ShutdownReceive | VsockHeader.ShutdownSend;
                c.ShutdownSent = true;
            }
            else
            {
                h.Op = VsockOp.CreditUpdate;
            }
            h.Length = length;
            h.Write(raw);
            chain.WriteTo(0, raw, queue.Memory);
            return VsockHeader.Size + length;
        }
        // HasWorkForGuest said yes a moment ago, under the same lock: not reached.
        h.Op = VsockOp.CreditUpdate;
        h.Write(raw);
        chain.WriteTo(0, raw, queue.Memory);
        return VsockHeader.Size;
    }

    // ---- host side ------------------------------------------------------------------------------------------

    private void AcceptHostConnections()
    {
        while (!_disposed)
        {
            Socket client;
            try
            {
                client = _listener.Accept();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                if (_disposed) return;
                continue;
            }
            var handshake = new Thread(() => HostHandshake(client)) { IsBackground = true, Name = "vsock handshake" };
            handshake.Start();
        }
    }

    /// <summary>Reads `CONNECT port\n` (at most 64 bytes, within 5 s) and asks the guest to accept.</summary>
    private void HostHandshake(Socket client)
    {
        uint port;
        try
        {
            client.ReceiveTimeout = 5000;
            Span<byte> line = stackalloc byte[64];
            int length = 0;
            while (length < line.Length)
            {
                int n = client.Receive(line.Slice(length, 1));
                if (n == 0) break;
                if (line[length++] == (byte)'\n') break;
            }
            string text = Encoding.ASCII.GetString(line[..length]).TrimEnd('\n', '\r');
            if (!text.StartsWith("CONNECT ", StringComparison.Ordinal) ||
                !uint.TryParse(text.AsSpan(8), NumberStyles.None, CultureInfo.InvariantCulture, out port) || !_active)
            {
                client.Dispose();
                return;
            }
            client.ReceiveTimeout = 0;
        }
        catch (SocketException)
        {
            client.Dispose();
            return;
        }
        lock (_sync)
        {
            if (_disposed || !_active)
            {
                client.Dispose();
                return;
            }
            uint local = _nextLocalPort;
            while (_connections.Exists(c => c.LocalPort == local)) local = local == uint.MaxValue ? FirstLocalPort : local + 1;
            _nextLocalPort = local == uint.MaxValue ? FirstLocalPort : local + 1;
            _connections.Add(new VsockConnection(_sync, client, local, port, Wake) { SendRequest = true });
        }
        Wake();
    }

    private static bool TrySendLine(Socket socket, string line)
    {
        try
        {
            socket.Send(Encoding.ASCII.GetBytes(line));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private VsockConnection? Find(uint localPort, uint peerPort)
    {
        foreach (var c in _connections)
            if (c.LocalPort == localPort && c.PeerPort == peerPort)
                return c;
        return null;
    }

    private void Remove(VsockConnection c, bool reset)
    {
        _connections.Remove(c);
        c.Abort();
        if (reset) QueueOrphanReset(c.LocalPort, c.PeerPort);
    }

    private void QueueOrphanReset(uint source, uint destination)
    {
        if (_orphanCount < MaxOrphanResets)
            _orphanResets[_orphanCount++] = (source, destination);
    }
}
