using System.Net.Sockets;

namespace Vessel.Virtio.Vsock;

/// <summary>
/// One guest↔host stream: a Unix socket on the host side, and two bounded buffers with a thread each that moves bytes
/// between them and the socket. Guest → host bytes are accepted only within the credit Vessel advertised
/// (<see cref="BufferAllocation"/>), so a host that stops reading stalls the guest, not Vessel's memory; host → guest
/// bytes are read from the socket only while <see cref="ToGuest"/> has room, and sent only within the guest's credit.
/// Every field is guarded by the device's lock (<c>sync</c>); socket I/O happens outside it.
/// </summary>
internal sealed class VsockConnection
{
    public const int BufferAllocation = 256 * 1024;
    private const int ToGuestBytes = 64 * 1024;
    private const int Chunk = 16 * 1024;

    private readonly object _sync;
    private readonly Socket _socket;
    private readonly Action _wakeDevice;
    private Thread? _reader, _writer;

    public VsockConnection(object sync, Socket socket, uint localPort, uint peerPort, Action wakeDevice)
    {
        _sync = sync;
        _socket = socket;
        LocalPort = localPort;
        PeerPort = peerPort;
        _wakeDevice = wakeDevice;
    }

    public uint LocalPort { get; }
    public uint PeerPort { get; }
    public Socket Socket => _socket;

    public ByteRing ToGuest { get; } = new(ToGuestBytes);
    public ByteRing ToHost { get; } = new(BufferAllocation);

    public bool Connected;
    public uint PeerBufferAllocation, PeerForwardCount, SentToGuest;
    public uint ForwardCount, AdvertisedForwardCount;
    public bool SendRequest, SendResponse, SendCreditUpdate, SendReset, ShutdownSent;
    public bool HostEnded, GuestStoppedSending, GuestStoppedReceiving, Closed;

    /// <summary>Bytes the guest can still take (its buf_alloc minus what is in flight).</summary>
    public uint PeerCredit => PeerBufferAllocation - Math.Min(PeerBufferAllocation, SentToGuest - PeerForwardCount);

    public void StartIo()
    {
        _reader = new Thread(ReadFromHost) { IsBackground = true, Name = $"vsock {LocalPort} reader" };
        _writer = new Thread(WriteToHost) { IsBackground = true, Name = $"vsock {LocalPort} writer" };
        _reader.Start();
        _writer.Start();
    }

    /// <summary>Ends the stream now (a reset): buffered bytes are dropped. Under the lock.</summary>
    public void Abort()
    {
        Closed = true;
        ToHost.Consume(ToHost.Count);
        Monitor.PulseAll(_sync);
        try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        if (_reader == null) _socket.Dispose();
    }

    /// <summary>The guest closed: what it sent still reaches the host, then the socket closes. Under the lock.</summary>
    public void FinishAfterDrain()
    {
        Closed = true;
        GuestStoppedSending = true;
        Monitor.PulseAll(_sync);
        try { _socket.Shutdown(SocketShutdown.Receive); } catch (SocketException) { } catch (ObjectDisposedException) { }
        if (_reader == null) _socket.Dispose();
    }

    private void ReadFromHost()
    {
        var buffer = new byte[Chunk];
        try
        {
            while (true)
            {
                int room;
                lock (_sync)
                {
                    while (ToGuest.Free == 0 && !Closed) Monitor.Wait(_sync);
                    if (Closed) return;
                    room = Math.Min(ToGuest.Free, buffer.Length);
                }
                int n = _socket.Receive(buffer, 0, room, SocketFlags.None);
                lock (_sync)
                {
                    if (Closed) return;
                    if (n == 0) { HostEnded = true; break; }
                    ToGuest.Write(buffer.AsSpan(0, n));
                }
                _wakeDevice();
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            lock (_sync) HostEnded = true;
        }
        _wakeDevice();
    }

    private void WriteToHost()
    {
        var buffer = new byte[Chunk];
        try
        {
            while (true)
            {
                int n;
                lock (_sync)
                {
                    while (ToHost.Count == 0 && !Closed && !GuestStoppedSending) Monitor.Wait(_sync);
                    if (ToHost.Count == 0) break;
                    var data = ToHost.DataSpan();
                    n = Math.Min(data.Length, buffer.Length);
                    data[..n].CopyTo(buffer);
                    ToHost.Consume(n);
                }
                for (int done = 0; done < n;)
                    done += _socket.Send(buffer, done, n - done, SocketFlags.None);
                bool update;
                lock (_sync)
                {
                    ForwardCount += (uint)n;
                    update = ForwardCount - AdvertisedForwardCount >= BufferAllocation / 4;
                    if (update) SendCreditUpdate = true;
                }
                if (update) _wakeDevice();
            }
            lock (_sync)
            {
                if (GuestStoppedSending && !Closed)
                    _socket.Shutdown(SocketShutdown.Send);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            lock (_sync) { HostEnded = true; SendReset = !Closed; }
            _wakeDevice();
        }
        finally
        {
            bool dispose;
            lock (_sync) dispose = Closed;
            if (dispose)
            {
                _reader?.Join();
                _socket.Dispose();
            }
        }
    }
}
