using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using Vessel.Devices.RateLimiting;
using Vessel.Virtio.Devices;
using Vessel.Virtio.Queues;

namespace Vessel.Virtio.Block;

/// <summary>What a disk is: its image file, read-only or not, the serial GET_ID returns, and its rate limit.</summary>
public sealed record VirtioBlockOptions(string Path, bool ReadOnly = false, string? Id = null)
{
    /// <summary>Firecracker's rate_limiter: bytes read or written, and requests (one op each); null: none.</summary>
    public RateLimit? RateLimit { get; init; }
}

/// <summary>A virtio-blk device's state between requests (its worker serves requests to completion, so none is
/// ever in flight once <see cref="QueuedVirtioDevice.Drain"/> returns).</summary>
public sealed record VirtioBlockState(string Path, bool ReadOnly, string Id, ulong CapacitySectors,
    ulong NegotiatedFeatures, bool NeedsReset, IReadOnlyList<SplitQueueState?> Queues);

/// <summary>
/// virtio-blk (virtio 1.x, 5.2) over a raw image file with one request queue. Requests are served in order on
/// the device's own worker thread (synchronous pread/pwrite/fdatasync there), so a kick never blocks a vCPU, a
/// slow disk stalls only itself, and a flush naturally follows every write before it. Read-only disks offer
/// VIRTIO_BLK_F_RO and answer writes, discards and write-zeroes with IOERR without touching the image. A rate limit
/// (<see cref="RateLimit"/>) charges each request one op and its data bytes; a request the buckets cannot pay for
/// stays in the ring, and the queue waits until they can.
/// </summary>
public sealed class VirtioBlock : QueuedVirtioDevice
{
    public const ushort QueueSize = 256;
    public const int IdBytes = 20;

    // Feature bits (5.2.3).
    public const ulong FeatureSegMax = 1UL << 2, FeatureRo = 1UL << 5, FeatureBlkSize = 1UL << 6,
        FeatureFlush = 1UL << 9, FeatureDiscard = 1UL << 13, FeatureWriteZeroes = 1UL << 14;

    // Request types and status (5.2.6).
    public const uint TypeIn = 0, TypeOut = 1, TypeFlush = 4, TypeGetId = 8, TypeDiscard = 11, TypeWriteZeroes = 13;
    public const byte StatusOk = 0, StatusIoError = 1, StatusUnsupported = 2;

    public const int HeaderBytes = 16, SegmentBytes = 16;
    public const uint MaxDiscardSectors = 1u << 22, MaxDiscardSegments = 32;
    private const uint WriteZeroesUnmap = 1;

    // Replaced by SwapImage under _imageLock, which the worker holds for each request it executes.
    private DiskImage _image;
    private volatile byte[] _config;
    private readonly Lock _imageLock = new();
    private readonly byte[] _id = new byte[IdBytes];
    // Scratch for one request's buffers (worker thread only): a chain has at most QueueSize segments.
    private readonly IoVector[] _vectors = new IoVector[QueueSize];
    private readonly ulong[] _vectorGuest = new ulong[QueueSize];
    private readonly nuint[] _vectorLength = new nuint[QueueSize];

    public VirtioBlock(VirtioBlockOptions options, TimeProvider? time = null) : base("blk")
    {
        RateLimit = new QueueRateLimit(time ?? TimeProvider.System, Wake, options.RateLimit);
        if (options.Id != null)
        {
            if (options.Id.Length > IdBytes || options.Id.Any(c => c < 0x20 || c > 0x7e))
                throw new DiskImageException($"disk id '{options.Id}' must be at most {IdBytes} printable ASCII characters");
            Encoding.ASCII.GetBytes(options.Id, _id);
        }
        Id = options.Id ?? "";
        _image = DiskImage.Open(options.Path, options.ReadOnly);
        _config = BuildConfig(_image.CapacitySectors);
    }

    public string Id { get; }

    /// <summary>The requests' rate limit; PATCH /drives replaces its buckets while the guest runs.</summary>
    public QueueRateLimit RateLimit { get; }

    public BlockCounters Counters { get; } = new();
    public ulong CapacitySectors => _image.CapacitySectors;
    public bool ReadOnly => _image.ReadOnly;

    public override VirtioDeviceType DeviceType => VirtioDeviceType.Block;

    public override ulong OfferedFeatures =>
        VirtioFeatures.Version1 | VirtioFeatures.RingIndirectDescriptors | VirtioFeatures.RingEventIndex |
        FeatureSegMax | FeatureBlkSize | FeatureFlush | FeatureDiscard | FeatureWriteZeroes |
        (_image.ReadOnly ? FeatureRo : 0);

    public override int QueueCount => 1;
    public override ushort MaxQueueSize(int queueIndex) => QueueSize;

    /// <summary>struct virtio_blk_config up to and including write_zeroes_may_unmap and its padding.</summary>
    public override int ConfigSize => 60;

    /// <summary>Firecracker's PATCH /drives path_on_host on a running VM: the disk's image becomes the file at
    /// <paramref name="path"/> (opened with the disk's read-only setting), between two requests, and a configuration
    /// interrupt tells the driver to read the capacity again. The guest's caches are its own affair, as with
    /// Firecracker. Throws <see cref="DiskImageException"/> with the old image still in place if the file cannot be
    /// opened. Safe from any thread.</summary>
    public void SwapImage(string path)
    {
        var image = DiskImage.Open(path, _image.ReadOnly);
        DiskImage old;
        lock (_imageLock)
        {
            old = _image;
            _image = image;
            _config = BuildConfig(image.CapacitySectors);
        }
        old.Dispose();
        RaiseConfigInterrupt();
    }

    public VirtioBlockState State => new(_image.Path, _image.ReadOnly, Id, _image.CapacitySectors,
        NegotiatedFeatures, NeedsReset, QueueStates());

    private static byte[] BuildConfig(ulong capacitySectors)
    {
        var c = new byte[60];
        BinaryPrimitives.WriteUInt64LittleEndian(c.AsSpan(0), capacitySectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(12), QueueSize - 2);                // seg_max: header and status take two
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(20), DiskImage.SectorSize);         // blk_size
        BinaryPrimitives.WriteUInt16LittleEndian(c.AsSpan(34), 1);                            // num_queues
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(36), MaxDiscardSectors);            // max_discard_sectors
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(40), MaxDiscardSegments);           // max_discard_seg
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(44), 1);                            // discard_sector_alignment
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(48), MaxDiscardSectors);            // max_write_zeroes_sectors
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(52), MaxDiscardSegments);           // max_write_zeroes_seg
        c[56] = 1;                                                                            // write_zeroes_may_unmap
        return c;
    }

    public override void ReadConfig(int offset, Span<byte> data) => CopyConfig(_config, offset, data);

    // Everything here is read-only to the driver (writeback is only writable with CONFIG_WCE, not offered).
    public override void WriteConfig(int offset, ReadOnlySpan<byte> data) { }

    protected override int ServeQueue(int queueIndex, SplitQueue queue, DescriptorChain chain)
    {
        Span<byte> header = stackalloc byte[HeaderBytes];
        do
        {
            while (queue.TryPop(chain) == PopResult.Chain)
            {
                if (chain.ReadableBytes < HeaderBytes || chain.WritableBytes < 1)
                {
                    queue.MarkBroken($"block request {chain.Head} has {chain.ReadableBytes} readable and {chain.WritableBytes} writable bytes (needs a 16-byte header and a status byte)");
                    return -1;
                }
                chain.ReadFrom(0, header);
                uint type = BinaryPrimitives.ReadUInt32LittleEndian(header);
                ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
                if (!DirectionsFit(type, chain))
                {
                    queue.MarkBroken($"block request {chain.Head} of type {type} has {chain.ReadableBytes} device-readable and {chain.WritableBytes} device-writable bytes: its data goes the wrong way");
                    return -1;
                }
                ulong dataBytes = type == TypeIn ? chain.WritableBytes - 1 : type == TypeOut ? chain.ReadableBytes - HeaderBytes : 0;
                if (!RateLimit.TryConsume(dataBytes, 1, out int retryMs))
                {
                    queue.UndoPop();
                    return retryMs;
                }
                uint written;
                byte status;
                lock (_imageLock) written = Execute(queue, chain, type, sector, out status);
                Counters.Record(type, status, dataBytes);
                Span<byte> statusByte = [status];
                chain.WriteTo(chain.WritableBytes - 1, statusByte, queue.Memory);
                Complete(queue, queueIndex, chain.Head, written + 1);
            }
            if (queue.Violation != null)
                return -1;
        } while (queue.ArmNotification());
        return -1;
    }

    /// <summary>Data the device reads (OUT, DISCARD, WRITE_ZEROES, FLUSH) must not come with device-writable bytes
    /// besides the status, and data the device writes (IN, GET_ID) must not come as device-readable bytes after the
    /// header: Linux never does either, so a chain that does is a broken driver, not a request to guess at.</summary>
    private static bool DirectionsFit(uint type, DescriptorChain chain) => type switch
    {
        TypeIn or TypeGetId => chain.ReadableBytes == HeaderBytes,
        TypeOut or TypeFlush or TypeDiscard or TypeWriteZeroes => chain.WritableBytes == 1,
        _ => true,
    };

    /// <summary>Runs one request; returns the bytes written into the guest's buffers before the status byte.</summary>
    private uint Execute(SplitQueue queue, DescriptorChain chain, uint type, ulong sector, out byte status)
    {
        switch (type)
        {
            case TypeIn:
            {
                ulong length = chain.WritableBytes - 1;
                status = InRange(sector, length) && ReadInto(chain, queue, sector, length) ? StatusOk : StatusIoError;
                return status == StatusOk ? (uint)Math.Min(length, uint.MaxValue - 1) : 0;
            }
            case TypeOut:
            {
                ulong length = chain.ReadableBytes - HeaderBytes;
                status = !_image.ReadOnly && InRange(sector, length) && WriteFrom(chain, sector, length) ? StatusOk : StatusIoError;
                return 0;
            }
            case TypeFlush:
                status = _image.TryFlush() ? StatusOk : StatusIoError;
                return 0;
            case TypeGetId:
            {
                int n = (int)Math.Min((ulong)IdBytes, chain.WritableBytes - 1);
                chain.WriteTo(0, _id.AsSpan(0, n), queue.Memory);
                status = StatusOk;
                return (uint)n;
            }
            case TypeDiscard:
            case TypeWriteZeroes:
                status = _image.ReadOnly ? StatusIoError : DiscardOrZero(chain, type == TypeWriteZeroes);
                return 0;
            default:
                status = StatusUnsupported;
                return 0;
        }
    }

    /// <summary>Whole sectors, all inside the disk (overflow-safe).</summary>
    private bool InRange(ulong sector, ulong bytes)
    {
        if (bytes % DiskImage.SectorSize != 0)
            return false;
        ulong capacity = _image.CapacitySectors;
        return sector <= capacity && bytes / DiskImage.SectorSize <= capacity - sector;
    }

    /// <summary>IN: one preadv per request into the chain's writable buffers (a request's pages are seldom
    /// contiguous, so one read per page would cost a system call each).</summary>
    private unsafe bool ReadInto(DescriptorChain chain, SplitQueue queue, ulong sector, ulong length)
    {
        long offset = (long)(sector * DiskImage.SectorSize);
        var cursor = chain.Cursor(writable: true, 0, length);
        bool more = true, ok = true;
        while (more && ok)
        {
            int count = 0;
            long bytes = 0;
            while (count < _vectors.Length && (more = cursor.MoveNext()))
            {
                _vectors[count] = new IoVector { Base = (nint)Unsafe.AsPointer(ref cursor.Current[0]), Length = (nuint)cursor.Current.Length };
                _vectorGuest[count++] = cursor.CurrentGuestAddress;
                bytes += cursor.Current.Length;
            }
            // Remember lengths before the call consumes the vector.
            for (int i = 0; i < count; i++)
                _vectorLength[i] = _vectors[i].Length;
            ok = _image.TryReadVector(_vectors.AsSpan(0, count), offset);
            for (int i = 0; i < count; i++)
                queue.Memory.MarkWritten(_vectorGuest[i], _vectorLength[i]);
            offset += bytes;
        }
        return ok;
    }

    /// <summary>OUT: one pwritev per request from the chain's readable buffers after the header.</summary>
    private unsafe bool WriteFrom(DescriptorChain chain, ulong sector, ulong length)
    {
        long offset = (long)(sector * DiskImage.SectorSize);
        var cursor = chain.Cursor(writable: false, HeaderBytes, length);
        bool more = true;
        while (more)
        {
            int count = 0;
            long bytes = 0;
            while (count < _vectors.Length && (more = cursor.MoveNext()))
            {
                _vectors[count++] = new IoVector { Base = (nint)Unsafe.AsPointer(ref cursor.Current[0]), Length = (nuint)cursor.Current.Length };
                bytes += cursor.Current.Length;
            }
            if (!_image.TryWriteVector(_vectors.AsSpan(0, count), offset))
                return false;
            offset += bytes;
        }
        return true;
    }

    /// <summary>DISCARD and WRITE_ZEROES: a list of {sector, num_sectors, flags} after the header. Discard and
    /// write-zeroes with UNMAP punch holes; write-zeroes without it zeroes the range and keeps it allocated.</summary>
    private byte DiscardOrZero(DescriptorChain chain, bool writeZeroes)
    {
        ulong payload = chain.ReadableBytes - HeaderBytes;
        if (payload == 0 || payload % SegmentBytes != 0 || payload / SegmentBytes > MaxDiscardSegments)
            return StatusIoError;
        Span<byte> segment = stackalloc byte[SegmentBytes];
        for (ulong at = HeaderBytes; at < chain.ReadableBytes; at += SegmentBytes)
        {
            chain.ReadFrom(at, segment);
            ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(segment);
            uint sectors = BinaryPrimitives.ReadUInt32LittleEndian(segment[8..]);
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(segment[12..]);
            if ((writeZeroes ? flags & ~WriteZeroesUnmap : flags) != 0)
                return StatusUnsupported;
            if (sectors > MaxDiscardSectors || !InRange(sector, (ulong)sectors * DiskImage.SectorSize))
                return StatusIoError;
            long offset = (long)(sector * DiskImage.SectorSize), bytes = (long)sectors * DiskImage.SectorSize;
            bool done = writeZeroes && (flags & WriteZeroesUnmap) == 0
                ? _image.TryZeroRange(offset, bytes)
                : _image.TryPunchHole(offset, bytes, mustZero: writeZeroes);
            if (!done)
                return StatusIoError;
        }
        return StatusOk;
    }

    protected override void OnDispose()
    {
        lock (_imageLock) _image.Dispose();
    }
}
