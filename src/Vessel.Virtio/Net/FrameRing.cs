namespace Vessel.Virtio.Net;

/// <summary>
/// Frames on their way from a network backend to the guest: a bounded circular byte buffer of length-prefixed
/// records, written by the backend's reader thread and read by the device's worker. It never grows: a full ring
/// makes the writer wait (so the backend stops reading its host socket and the host side feels the backpressure);
/// while the device is not active, frames are dropped, as a NIC without a driver drops them. No allocation per frame.
/// </summary>
public sealed class FrameRing
{
    private const int WrapMarker = -1;

    private readonly object _lock = new();
    private readonly byte[] _buffer;
    private int _head, _tail, _count;
    private bool _accepting, _closed;
    private Action? _frameAvailable;

    public FrameRing(int capacityBytes, int maxFrameBytes)
    {
        if (capacityBytes % 4 != 0 || capacityBytes < 2 * (RecordSize(maxFrameBytes) + 4))
            throw new ArgumentOutOfRangeException(nameof(capacityBytes), "the ring must be a multiple of 4 holding two largest frames");
        _buffer = new byte[capacityBytes];
        MaxFrameBytes = maxFrameBytes;
    }

    public int MaxFrameBytes { get; }

    public int Count { get { lock (_lock) return _count; } }

    /// <summary>Called (outside the lock) after a frame was added; the device wakes its worker.</summary>
    public void SetListener(Action? frameAvailable)
    {
        lock (_lock) _frameAvailable = frameAvailable;
    }

    /// <summary>True: frames are kept for the guest. False: the ring empties and drops what comes.</summary>
    public void SetAccepting(bool accepting)
    {
        lock (_lock)
        {
            _accepting = accepting;
            if (!accepting)
                _head = _tail = _count = 0;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>Ends every wait; later writes are dropped (the backend is shutting down).</summary>
    public void Close()
    {
        lock (_lock)
        {
            _closed = true;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>Adds one frame, waiting while the ring is full. Returns false when the frame was dropped (too large,
    /// device inactive) or the ring closed.</summary>
    public bool Write(ReadOnlySpan<byte> frame) => Write(frame, wait: true);

    /// <summary>Adds one frame if it fits now, else drops it (counted in <see cref="Overruns"/>).</summary>
    public bool TryWrite(ReadOnlySpan<byte> frame) => Write(frame, wait: false);

    /// <summary>Adds one frame, waiting while the ring is full, except when <paramref name="dropInstead"/> says so
    /// (asked again at least every <see cref="RecheckMs"/> ms while waiting): then the frame is dropped and counted
    /// in <see cref="Overruns"/>. For passt, whose socket this side must drain while the device's worker is itself
    /// waiting for passt to read (both could otherwise wait for each other forever); the rest of the time the
    /// backend waits and passt feels the backpressure instead of losing segments to the guest's TCP.</summary>
    public bool Write(ReadOnlySpan<byte> frame, Func<bool> dropInstead) => Write(frame, wait: true, dropInstead);

    /// <summary>How often a waiting <see cref="Write(ReadOnlySpan{byte}, Func{bool})"/> asks again.</summary>
    public const int RecheckMs = 20;

    /// <summary>Frames dropped because the guest had not made room (the guest posts too few receive buffers or none).</summary>
    public long Overruns => Interlocked.Read(ref _overruns);

    private long _overruns;
    private Action? _overrun;

    /// <summary>Called (outside the lock, on the writer's thread) after a frame was dropped for want of room.</summary>
    public void SetOverrunListener(Action? overrun)
    {
        lock (_lock) _overrun = overrun;
    }

    private bool Write(ReadOnlySpan<byte> frame, bool wait, Func<bool>? dropInstead = null)
    {
        if (frame.Length > MaxFrameBytes)
            return false;
        Action? listener;
        bool written = false;
        lock (_lock)
        {
            while (true)
            {
                if (_closed || !_accepting)
                    return false;
                int at = Reserve(frame.Length);
                if (at >= 0)
                {
                    BitConverter.TryWriteBytes(_buffer.AsSpan(at), frame.Length);
                    frame.CopyTo(_buffer.AsSpan(at + 4));
                    _tail = at + RecordSize(frame.Length);
                    _count++;
                    written = true;
                    break;
                }
                if (!wait || dropInstead != null && dropInstead())
                {
                    Interlocked.Increment(ref _overruns);
                    break;
                }
                if (dropInstead != null)
                    Monitor.Wait(_lock, RecheckMs);
                else
                    Monitor.Wait(_lock);
            }
            listener = written ? _frameAvailable : _overrun;
        }
        listener?.Invoke();
        return written;
    }

    /// <summary>The oldest frame, without removing it. The span stays valid until <see cref="Pop"/> or
    /// <see cref="SetAccepting"/>(false); only the one consumer thread may call this.</summary>
    public bool TryPeek(out ReadOnlySpan<byte> frame)
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                frame = default;
                return false;
            }
            SkipWrap();
            int length = BitConverter.ToInt32(_buffer, _head);
            frame = _buffer.AsSpan(_head + 4, length);
            return true;
        }
    }

    /// <summary>The frame <paramref name="index"/> places behind the oldest (0: the oldest), without removing any;
    /// valid as <see cref="TryPeek"/>'s span is. For a consumer that merges frames already waiting.</summary>
    public bool TryPeekAt(int index, out ReadOnlySpan<byte> frame)
    {
        lock (_lock)
        {
            if ((uint)index >= (uint)_count)
            {
                frame = default;
                return false;
            }
            SkipWrap();
            int at = _head;
            for (int i = 0; i < index; i++)
            {
                at += RecordSize(BitConverter.ToInt32(_buffer, at));
                if (_buffer.Length - at < 4 || BitConverter.ToInt32(_buffer, at) == WrapMarker)
                    at = 0;
            }
            frame = _buffer.AsSpan(at + 4, BitConverter.ToInt32(_buffer, at));
            return true;
        }
    }

    /// <summary>Removes the oldest frame (after <see cref="TryPeek"/>).</summary>
    public void Pop()
    {
        lock (_lock)
        {
            if (_count == 0)
                return;
            SkipWrap();
            _head += RecordSize(BitConverter.ToInt32(_buffer, _head));
            if (--_count == 0)
                _head = _tail = 0;
            Monitor.PulseAll(_lock);
        }
    }

    private void SkipWrap()
    {
        if (_buffer.Length - _head < 4 || BitConverter.ToInt32(_buffer, _head) == WrapMarker)
            _head = 0;
    }

    /// <summary>Where a record of <paramref name="length"/> bytes goes, or -1 if it does not fit now. Writes the
    /// wrap marker when the record starts over at 0. A non-empty ring whose tail has caught up with its head is full.</summary>
    private int Reserve(int length)
    {
        int need = RecordSize(length);
        if (_count == 0)
            return need <= _buffer.Length ? 0 : -1;
        if (_tail > _head)
        {
            if (_buffer.Length - _tail >= need)
                return _tail;
            if (need <= _head)
            {
                if (_buffer.Length - _tail >= 4)
                    BitConverter.TryWriteBytes(_buffer.AsSpan(_tail), WrapMarker);
                return 0;
            }
            return -1;
        }
        return _head - _tail >= need ? _tail : -1;
    }

    private static int RecordSize(int length) => 4 + ((length + 3) & ~3);
}
