using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Vessel.Devices.RateLimiting;
using Vessel.Virtio.Devices;
using Vessel.Virtio.Queues;

namespace Vessel.Virtio.Net;

/// <summary>virtio-net's state, for pause and snapshots.</summary>
public sealed record VirtioNetState(ulong NegotiatedFeatures, bool NeedsReset, IReadOnlyList<SplitQueueState?> Queues,
    bool LinkUp, int FramesWaitingForTheGuest, int ReceiveBuffersHeld);

/// <summary>
/// virtio-net (virtio 1.x, 5.1) with one receive and one transmit queue over an <see cref="INetBackend"/>. It offers
/// a MAC address, link status and merged receive buffers; checksum and segmentation offloads when the backend
/// carries the vnet header end to end, and for a local user-mode stack (passt) transmit checksums completed here,
/// the guest's 64 KiB TCP packets cut into segments here (<see cref="TcpSegmenter"/>) and received TCP segments merged
/// into GSO frames (<see cref="TcpCoalescer"/>). Frames from the host wait in a bounded
/// <see cref="FrameRing"/> until the driver posts receive buffers; the transmit path gathers each chain into one preallocated buffer. Nothing on the
/// data path allocates. Each direction has its own rate limit (one op and the frame's bytes, without the vnet
/// header, per frame): a throttled transmit leaves the frame in the ring, a throttled receive leaves it in the
/// <see cref="FrameRing"/> (whose backpressure then reaches the backend), until the buckets refill.
/// </summary>
public sealed class VirtioNet : QueuedVirtioDevice, IDisposable
{
    public const ushort QueueSize = 256;
    public const int ReceiveQueue = 0, TransmitQueue = 1;

    /// <summary>How many receive chains one frame may span (a 64 KiB frame over 4 KiB buffers needs 17).</summary>
    public const int MaxChainsPerFrame = 64;

    /// <summary>Room for a whole TCP receive window of a Linux guest (tcp_rmem's default 6 MiB buffer advertises about
    /// 3 MiB) plus what the host socket holds: passt sends no more than the guest's window, so a ring this size rarely
    /// fills, and a full ring is costly (passt 2023-03 drops the frames its non-blocking send cannot place, and
    /// blocks on the rest of a partly sent one, after which this side must drop too; see PasstBackend).</summary>
    private const int RingBytes = 4 << 20;
    private const int ConfigBytes = 12;

    private readonly INetBackend _backend;
    private readonly MacAddress _mac;
    private readonly FrameRing _toGuest;
    private readonly byte[] _transmitBuffer = new byte[NetFeatures.HeaderBytes + NetFeatures.MaxFrameBytes];
    private readonly byte[] _coalesceBuffer;
    private readonly byte[] _segmentBuffer;
    private DescriptorChain[] _receiveChains = [];
    private int _receiveHeld;
    private bool _mergeable;
    private bool _markDataValid;
    private bool _coalesce;
    private volatile bool _linkUp = true;
    private volatile IVirtioInterrupt? _interrupt;
    private readonly NetDropLog _drops;

    /// <param name="logger">Where drops are reported (first one, then at most every 10 s).</param>
    /// <param name="time">The rate limits' clock (tests pass a fake one).</param>
    public VirtioNet(INetBackend backend, MacAddress mac, ILogger? logger = null, TimeProvider? time = null) : base("net")
    {
        ReceiveRateLimit = new QueueRateLimit(time ?? TimeProvider.System, Wake);
        TransmitRateLimit = new QueueRateLimit(time ?? TimeProvider.System, Wake);
        _backend = backend;
        _mac = mac;
        _toGuest = new FrameRing(RingBytes, NetFeatures.MaxFrameBytes + (backend.CarriesVnetHeader ? NetFeatures.HeaderBytes : 0));
        _toGuest.SetListener(Wake);
        _coalesceBuffer = LocalStack ? new byte[NetFeatures.MaxFrameBytes] : [];
        _segmentBuffer = LocalStack ? new byte[NetFeatures.MaxFrameBytes] : [];
        _drops = new NetDropLog(logger ?? NullLogger.Instance, $"virtio-net {mac} ({backend.Description})", () => Statistics);
        _toGuest.SetOverrunListener(_drops.Dropped);
        backend.Start(_toGuest);
    }

    public NetCounters Counters { get; } = new();

    /// <summary>Firecracker's rx_rate_limiter: frames to the guest.</summary>
    public QueueRateLimit ReceiveRateLimit { get; }

    /// <summary>Firecracker's tx_rate_limiter: frames from the guest.</summary>
    public QueueRateLimit TransmitRateLimit { get; }

    /// <summary>All counters at once; receive drops include the frames the backend's full ring refused.</summary>
    public NetStatistics Statistics => new(
        Counters.Received, Interlocked.Read(ref Counters.ReceivedBytes),
        Counters.Transmitted, Interlocked.Read(ref Counters.TransmittedBytes),
        Counters.ReceiveDrops + _toGuest.Overruns, _toGuest.Overruns, Counters.TransmitDrops);

    public MacAddress Mac => _mac;

    public override VirtioDeviceType DeviceType => VirtioDeviceType.Net;

    public override ulong OfferedFeatures =>
        VirtioFeatures.Version1 | VirtioFeatures.RingIndirectDescriptors | VirtioFeatures.RingEventIndex |
        NetFeatures.Mac | NetFeatures.Status | NetFeatures.MergeableRxBuffers |
        (_backend.CarriesVnetHeader ? NetFeatures.Offloads : 0) |
        (_backend.Mtu != 0 ? NetFeatures.Mtu : 0) |
        (_backend.ChecksumsVerified ? NetFeatures.GuestCsum : 0) |
        (LocalStack ? NetFeatures.Csum | NetFeatures.GuestTso4 | NetFeatures.HostTso4 | NetFeatures.HostTso6 : 0);

    /// <summary>A backend of plain frames from a local user-mode stack (passt): the guest may leave transmit checksums
    /// partial, which the device completes (<see cref="PartialChecksum"/>), may hand over TCP packets of up to 64 KiB
    /// that the device cuts into segments (<see cref="TcpSegmenter"/>), and it takes TCP segments merged into GSO
    /// frames (<see cref="TcpCoalescer"/>), all sparing the emulated CPU work the host does faster.</summary>
    private bool LocalStack => _backend.ChecksumsVerified && !_backend.CarriesVnetHeader;

    public override int QueueCount => 2;
    public override ushort MaxQueueSize(int queueIndex) => QueueSize;

    /// <summary>struct virtio_net_config: mac[6], status, max_virtqueue_pairs, mtu.</summary>
    public override int ConfigSize => ConfigBytes;

    public override void ReadConfig(int offset, Span<byte> data)
    {
        Span<byte> config = stackalloc byte[ConfigBytes];
        _mac.CopyTo(config);
        BinaryPrimitives.WriteUInt16LittleEndian(config[6..], _linkUp ? NetFeatures.LinkUp : (ushort)0);
        BinaryPrimitives.WriteUInt16LittleEndian(config[8..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(config[10..], _backend.Mtu);
        CopyConfig(config, offset, data);
    }

    // The MAC is read-only without VIRTIO_NET_F_CTRL_MAC_ADDR (not offered).
    public override void WriteConfig(int offset, ReadOnlySpan<byte> data) { }

    /// <summary>Cable in or out: while down, frames both ways are dropped; the driver sees the status change.</summary>
    public bool LinkUp
    {
        get => _linkUp;
        set
        {
            if (_linkUp == value)
                return;
            _linkUp = value;
            if ((NegotiatedFeatures & NetFeatures.Status) != 0)
                _interrupt?.ConfigInterrupt();
            Wake();
        }
    }

    public VirtioNetState State => new(NegotiatedFeatures, NeedsReset, QueueStates(), _linkUp, _toGuest.Count, _receiveHeld);

    protected override void OnActivate(VirtioActivation activation)
    {
        _interrupt = activation.Interrupt;
        _mergeable = (activation.NegotiatedFeatures & NetFeatures.MergeableRxBuffers) != 0;
        _markDataValid = _backend.ChecksumsVerified && (activation.NegotiatedFeatures & NetFeatures.GuestCsum) != 0;
        const ulong coalescing = NetFeatures.GuestCsum | NetFeatures.GuestTso4;
        _coalesce = LocalStack && (activation.NegotiatedFeatures & coalescing) == coalescing;
        var receive = activation.Queues.Count > ReceiveQueue ? activation.Queues[ReceiveQueue] : null;
        int chains = _mergeable ? MaxChainsPerFrame : 1;
        if (_receiveChains.Length < chains || receive != null && _receiveChains[0].Capacity < receive.Size)
        {
            _receiveChains = new DescriptorChain[chains];
            for (int i = 0; i < chains; i++)
                _receiveChains[i] = new DescriptorChain(QueueSize);
        }
        _receiveHeld = 0;
        _backend.SetOffloads(activation.NegotiatedFeatures);
        _toGuest.SetAccepting(true);
    }

    protected override void OnReset()
    {
        _interrupt = null;
        _transmitInterruptHeld = false;
        _toGuest.SetAccepting(false);
        _receiveHeld = 0;
    }

    /// <summary>Unblocks the backend before the base stops the worker, which may be inside a Send to a host that
    /// stopped reading (the stop would otherwise wait for it forever).</summary>
    void IDisposable.Dispose()
    {
        _toGuest.Close();
        _backend.Abort();
        Dispose();
    }

    protected override void OnDispose()
    {
        _toGuest.Close();
        _backend.Dispose();
    }

    protected override int ServeQueue(int queueIndex, SplitQueue queue, DescriptorChain chain) =>
        queueIndex == TransmitQueue ? Transmit(queue, chain) : Receive(queue);

    /// <summary>Sends every frame the driver offers; returns -1, or milliseconds until the rate limit lets the next go.
    /// Completions are published a burst at a time (every frame found before the ring ran dry, at most
    /// <see cref="TransmitBurst"/>) with at most one interrupt each: the guest frees its sent buffers per interrupt,
    /// and on the software CPU an interrupt costs more than the frame.</summary>
    private int Transmit(SplitQueue queue, DescriptorChain chain)
    {
        int retryMs = -1;
        do
        {
            int completed = 0;
            while (queue.TryPop(chain) == PopResult.Chain)
            {
                if (!TransmitOne(chain, out retryMs))
                {
                    queue.UndoPop();
                    break;
                }
                queue.AddUsedUnpublished(chain.Head, 0);
                if (++completed == TransmitBurst)
                {
                    PublishTransmitted(queue);
                    completed = 0;
                }
            }
            if (completed > 0)
                PublishTransmitted(queue);
            if (retryMs >= 0 || queue.Violation != null)
                return HeldTransmitInterrupt(retryMs);
        } while (queue.ArmNotification());
        return HeldTransmitInterrupt(-1);
    }

    /// <summary>The most transmit completions held back before they are published (a quarter of the ring: the guest
    /// gets buffers back while it still has room to queue more).</summary>
    private const int TransmitBurst = QueueSize / 4;

    /// <summary>
    /// How long a transmit interrupt may wait after the completions it reports were published (0, the default: none).
    /// The used ring is always published at once (a driver that looks, as Linux's does from its receive poll, finds its
    /// buffers); only the interrupt waits, as a NIC's tx-usecs moderation (QEMU's tx timer) makes it, so a guest
    /// sending a packet at a time (an ACK per received frame, a write per packet) takes a transmit interrupt per
    /// holdoff rather than per packet. Set before the driver starts.
    /// </summary>
    public int TransmitInterruptHoldoffMs { get; set; }

    private bool _transmitInterruptHeld;
    private long _transmitInterruptDue;

    private void PublishTransmitted(SplitQueue queue)
    {
        queue.PublishUsed();
        if (!queue.ShouldInterrupt())
            return;
        if (TransmitInterruptHoldoffMs <= 0)
            _interrupt?.QueueInterrupt(TransmitQueue);
        else if (!_transmitInterruptHeld)
        {
            _transmitInterruptHeld = true;
            _transmitInterruptDue = Environment.TickCount64 + TransmitInterruptHoldoffMs;
        }
    }

    /// <summary>Raises a held transmit interrupt once it is due; otherwise returns when to be called again (the earlier
    /// of that and <paramref name="retryMs"/>, -1 for none).</summary>
    private int HeldTransmitInterrupt(int retryMs)
    {
        if (!_transmitInterruptHeld)
            return retryMs;
        long left = _transmitInterruptDue - Environment.TickCount64;
        if (left > 0)
            return retryMs < 0 ? (int)left : Math.Min(retryMs, (int)left);
        _transmitInterruptHeld = false;
        _interrupt?.QueueInterrupt(TransmitQueue);
        return retryMs;
    }

    /// <summary>Sends (or drops) the frame in <paramref name="chain"/>; false, with the milliseconds to wait, when the
    /// rate limit holds it back (the chain is then not consumed).</summary>
    private bool TransmitOne(DescriptorChain chain, out int retryMs)
    {
        ulong length = chain.ReadableBytes;
        ulong frameBytes = length > NetFeatures.HeaderBytes ? length - NetFeatures.HeaderBytes : 0;
        if (!TransmitRateLimit.TryConsume(frameBytes, 1, out retryMs))
            return false;
        retryMs = -1;
        if (length < NetFeatures.HeaderBytes || length > (ulong)_transmitBuffer.Length || !_linkUp)
        {
            DropTransmitted();
            return true;
        }
        int n = chain.ReadFrom(0, _transmitBuffer.AsSpan(0, (int)length));
        if (LocalStack && _transmitBuffer[1] != 0)
        {
            SendSegmented(n);
            return true;
        }
        if (!_backend.CarriesVnetHeader && !CompleteChecksum(n))
        {
            DropTransmitted();
            return true;
        }
        var frame = _backend.CarriesVnetHeader
            ? _transmitBuffer.AsSpan(0, n)
            : _transmitBuffer.AsSpan(NetFeatures.HeaderBytes, n - NetFeatures.HeaderBytes);
        if (_backend.Send(frame))
        {
            Interlocked.Increment(ref Counters.TransmittedFrames);
            Interlocked.Add(ref Counters.TransmittedBytes, n - NetFeatures.HeaderBytes);
        }
        else
            DropTransmitted();
        return true;
    }

    /// <summary>Cuts the guest's GSO packet of <paramref name="n"/> bytes (vnet header first) in the transmit buffer into
    /// segments of gso_size for the backend; drops it if it is no TCP packet that fits the MTU once cut.</summary>
    private void SendSegmented(int n)
    {
        byte gsoType = (byte)(_transmitBuffer[1] & ~NetFeatures.GsoEcn);
        int segmentBytes = BinaryPrimitives.ReadUInt16LittleEndian(_transmitBuffer.AsSpan(4));
        var packet = _transmitBuffer.AsSpan(NetFeatures.HeaderBytes, n - NetFeatures.HeaderBytes);
        bool ipv6 = gsoType == NetFeatures.GsoTcpV6;
        int headers = gsoType is NetFeatures.GsoTcpV4 or NetFeatures.GsoTcpV6
            ? TcpSegmenter.Headers(packet, ipv6, segmentBytes, MaxSegmentFrame) : -1;
        if (headers < 0)
        {
            DropTransmitted();
            return;
        }
        int count = TcpSegmenter.Count(packet.Length, headers, segmentBytes);
        for (int i = 0; i < count; i++)
        {
            int length = TcpSegmenter.Build(packet, ipv6, headers, segmentBytes, i, _segmentBuffer);
            if (!_backend.Send(_segmentBuffer.AsSpan(0, length)))
            {
                DropTransmitted();
                return;
            }
            Interlocked.Increment(ref Counters.TransmittedFrames);
            Interlocked.Add(ref Counters.TransmittedBytes, length);
        }
    }

    /// <summary>The largest frame a segment may be: the MTU offered (the guest's eth0), with the Ethernet header.</summary>
    private int MaxSegmentFrame => EthernetHeaderBytes + (_backend.Mtu != 0 ? _backend.Mtu : DefaultMtu);

    private const int EthernetHeaderBytes = 14, DefaultMtu = 1500;

    /// <summary>Completes a partial checksum in the frame of <paramref name="n"/> bytes (vnet header first) in the
    /// transmit buffer, if the header asks for one; false if the header's offsets are out of the frame.</summary>
    private bool CompleteChecksum(int n)
    {
        if ((_transmitBuffer[0] & NetFeatures.HeaderNeedsChecksum) == 0 || !LocalStack)
            return true;
        var header = _transmitBuffer.AsSpan(0, NetFeatures.HeaderBytes);
        int start = BinaryPrimitives.ReadUInt16LittleEndian(header[6..]), offset = BinaryPrimitives.ReadUInt16LittleEndian(header[8..]);
        return PartialChecksum.Complete(_transmitBuffer.AsSpan(NetFeatures.HeaderBytes, n - NetFeatures.HeaderBytes), start, offset);
    }

    /// <summary>Delivers host frames while the driver has buffers, then interrupts at most once for all of them (each
    /// frame is published as it lands, so a driver already polling takes it at once); returns -1, or milliseconds
    /// until the rate limit lets the next frame in.</summary>
    private int Receive(SplitQueue queue)
    {
        int retryMs = ReceiveWaiting(queue);
        if (queue.ShouldInterrupt())
            _interrupt?.QueueInterrupt(ReceiveQueue);
        return HeldTransmitInterrupt(retryMs); // a pass for the receive queue alone must not forget a held one
    }

    private int ReceiveWaiting(SplitQueue queue)
    {
        Span<byte> header = stackalloc byte[NetFeatures.HeaderBytes];
        int chainLimit = _mergeable ? MaxChainsPerFrame : 1;
        while (_toGuest.TryPeek(out var frame))
        {
            ReadOnlySpan<byte> payload = frame;
            int frames = 1;
            header.Clear();
            if (_markDataValid)
                header[0] = NetFeatures.HeaderDataValid;
            if (_backend.CarriesVnetHeader)
            {
                if (frame.Length < NetFeatures.HeaderBytes)
                {
                    DropReceived(1);
                    continue;
                }
                frame[..NetFeatures.HeaderBytes].CopyTo(header);
                payload = frame[NetFeatures.HeaderBytes..];
            }
            else if (_coalesce && (frames = TcpCoalescer.Merge(_toGuest, _coalesceBuffer, out int length, out ushort segment, out int headers)) > 1)
            {
                payload = _coalesceBuffer.AsSpan(0, length);
                SetGsoHeader(header, segment, headers);
            }
            if (!_linkUp)
            {
                DropReceived(frames);
                continue;
            }
            ulong total = (ulong)(NetFeatures.HeaderBytes + payload.Length);
            ulong room = 0;
            for (int i = 0; i < _receiveHeld; i++)
                room += _receiveChains[i].WritableBytes;
            while (room < total && _receiveHeld < chainLimit)
            {
                var chain = _receiveChains[_receiveHeld];
                if (!TryTakeReceiveBuffer(queue, chain, "receive buffer"))
                    return -1; // the frame waits for the driver's next receive buffers (or the queue broke)
                _receiveHeld++;
                room += chain.WritableBytes;
            }
            if (room < total)
            {
                // Larger than every buffer the driver may chain for it: dropped; the buffers wait for the next frame.
                DropReceived(frames);
                continue;
            }
            // Checked with the buffers in hand: a throttled frame keeps them, and the frame stays in the ring.
            if (!ReceiveRateLimit.TryConsume((ulong)payload.Length, 1, out int retryMs))
                return retryMs;
            Deliver(queue, header, payload, total);
            Interlocked.Add(ref Counters.ReceivedFrames, frames);
            Interlocked.Add(ref Counters.ReceivedBytes, payload.Length);
            for (int i = 0; i < frames; i++)
                _toGuest.Pop();
        }
        return -1;
    }

    /// <summary>The vnet header of a merged TCP frame: GSO_TCPV4 with the segments' size, the checksum partial (the
    /// guest takes it as verified, and could still split and forward the frame with correct checksums).</summary>
    private static void SetGsoHeader(Span<byte> header, ushort segmentBytes, int headerBytes)
    {
        header[0] = NetFeatures.HeaderNeedsChecksum;
        header[1] = NetFeatures.GsoTcpV4;
        BinaryPrimitives.WriteUInt16LittleEndian(header[2..], (ushort)headerBytes);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], segmentBytes);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], TcpCoalescer.ChecksumStart);
        BinaryPrimitives.WriteUInt16LittleEndian(header[8..], TcpCoalescer.ChecksumOffset);
    }

    /// <summary>Spreads header + payload over the held chains in order, publishes the used ones together (the caller
    /// decides on the interrupt) and keeps any left over for the next frame.</summary>
    private void Deliver(SplitQueue queue, Span<byte> header, ReadOnlySpan<byte> payload, ulong total)
    {
        int used = 0;
        ulong covered = 0;
        while (covered < total)
            covered += _receiveChains[used++].WritableBytes;
        BinaryPrimitives.WriteUInt16LittleEndian(header[NetFeatures.NumBuffersOffset..], (ushort)used);

        ulong position = 0;
        var memory = queue.Memory;
        for (int i = 0; i < used; i++)
        {
            var chain = _receiveChains[i];
            ulong take = Math.Min(chain.WritableBytes, total - position);
            ulong offset = 0;
            if (position < NetFeatures.HeaderBytes)
            {
                int h = (int)Math.Min(take, NetFeatures.HeaderBytes - position);
                chain.WriteTo(0, header.Slice((int)position, h), memory);
                offset = (ulong)h;
            }
            if (offset < take)
            {
                int from = (int)(position + offset - NetFeatures.HeaderBytes);
                chain.WriteTo(offset, payload.Slice(from, (int)(take - offset)), memory);
            }
            queue.AddUsedUnpublished(chain.Head, (uint)take);
            position += take;
        }
        queue.PublishUsed();

        // Chains popped but not needed move to the front, still held.
        for (int i = used; i < _receiveHeld; i++)
            (_receiveChains[i - used], _receiveChains[i]) = (_receiveChains[i], _receiveChains[i - used]);
        _receiveHeld -= used;
    }

    private void DropReceived(int frames)
    {
        for (int i = 0; i < frames; i++)
        {
            _toGuest.Pop();
            Interlocked.Increment(ref Counters.ReceiveDropped);
        }
        _drops.Dropped();
    }

    private void DropTransmitted()
    {
        Interlocked.Increment(ref Counters.TransmitDropped);
        _drops.Dropped();
    }
}
