using Vessel.Hypervisor;

namespace Vessel.Virtio.Queues;

/// <summary>One validated buffer of a chain: a host pointer into guest RAM (the whole length lies in one region).</summary>
public readonly unsafe struct ChainSegment(byte* host, ulong guestAddress, uint length, bool writable)
{
    public byte* Host { get; } = host;
    public ulong GuestAddress { get; } = guestAddress;
    public uint Length { get; } = length;
    public bool Writable { get; } = writable;
}

/// <summary>
/// A descriptor chain as <see cref="SplitQueue.TryPop"/> validated it: device-readable segments first, then
/// device-writable ones. The segments were copied out of the descriptor table, so a driver rewriting its
/// descriptors meanwhile changes nothing here. Reused for every request of a queue (no allocation per request).
/// </summary>
public sealed unsafe class DescriptorChain(int capacity)
{
    private readonly ChainSegment[] _segments = new ChainSegment[capacity];
    private int _firstWritable;

    public ushort Head { get; private set; }
    public int Count { get; private set; }
    public ulong ReadableBytes { get; private set; }
    public ulong WritableBytes { get; private set; }
    public int Capacity => _segments.Length;

    public ReadOnlySpan<ChainSegment> Segments => _segments.AsSpan(0, Count);

    internal void Begin(ushort head)
    {
        Head = head;
        Count = 0;
        _firstWritable = 0;
        ReadableBytes = 0;
        WritableBytes = 0;
    }

    internal void Add(byte* host, ulong guestAddress, uint length, bool writable)
    {
        _segments[Count++] = new ChainSegment(host, guestAddress, length, writable);
        if (writable)
            WritableBytes += length;
        else
        {
            ReadableBytes += length;
            _firstWritable = Count;
        }
    }

    /// <summary>Pieces of the readable (or writable) bytes in [offset, offset+length) of that part of the chain.</summary>
    public ChainCursor Cursor(bool writable, ulong offset, ulong length) =>
        new(_segments, writable ? _firstWritable : 0, writable ? Count : _firstWritable, offset, length);

    /// <summary>Copies readable bytes from <paramref name="offset"/> into <paramref name="destination"/>; returns how many.</summary>
    public int ReadFrom(ulong offset, Span<byte> destination)
    {
        int done = 0;
        var cursor = Cursor(writable: false, offset, (ulong)destination.Length);
        while (cursor.MoveNext())
        {
            cursor.Current.CopyTo(destination[done..]);
            done += cursor.Current.Length;
        }
        return done;
    }

    /// <summary>Copies <paramref name="source"/> into the writable bytes from <paramref name="offset"/>; returns how
    /// many fitted. Reports the write to <paramref name="memory"/> (the emu backend drops code it replaced).</summary>
    public int WriteTo(ulong offset, ReadOnlySpan<byte> source, GuestMemory memory)
    {
        int done = 0;
        var cursor = Cursor(writable: true, offset, (ulong)source.Length);
        while (cursor.MoveNext())
        {
            var piece = cursor.Current;
            source.Slice(done, piece.Length).CopyTo(piece);
            memory.MarkWritten(cursor.CurrentGuestAddress, (ulong)piece.Length);
            done += piece.Length;
        }
        return done;
    }
}

/// <summary>Walks a byte range of a chain's readable or writable part as spans over guest RAM, each at most
/// <see cref="MaxPiece"/> bytes (a segment may be up to 4 GiB; a span holds 2 GiB).</summary>
public unsafe ref struct ChainCursor
{
    public const int MaxPiece = 1 << 30;

    private readonly ReadOnlySpan<ChainSegment> _segments;
    private readonly int _end;
    private int _index;
    private ulong _skip;
    private ulong _remaining;
    private ulong _segmentOffset;

    internal ChainCursor(ReadOnlySpan<ChainSegment> segments, int start, int end, ulong offset, ulong length)
    {
        _segments = segments;
        _index = start;
        _end = end;
        _skip = offset;
        _remaining = length;
    }

    public Span<byte> Current { get; private set; }

    public ulong CurrentGuestAddress { get; private set; }

    public bool MoveNext()
    {
        while (_remaining != 0 && _index < _end)
        {
            ref readonly ChainSegment s = ref _segments[_index];
            ulong available = s.Length - _segmentOffset;
            if (_skip >= available)
            {
                _skip -= available;
                _index++;
                _segmentOffset = 0;
                continue;
            }
            _segmentOffset += _skip;
            _skip = 0;
            ulong take = Math.Min(Math.Min(s.Length - _segmentOffset, _remaining), MaxPiece);
            Current = new Span<byte>(s.Host + _segmentOffset, (int)take);
            CurrentGuestAddress = s.GuestAddress + _segmentOffset;
            _segmentOffset += take;
            _remaining -= take;
            if (_segmentOffset == s.Length)
            {
                _index++;
                _segmentOffset = 0;
            }
            return true;
        }
        Current = default;
        return false;
    }
}
