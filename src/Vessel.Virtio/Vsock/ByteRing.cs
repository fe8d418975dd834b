namespace Vessel.Virtio.Vsock;

/// <summary>A fixed-size circular byte buffer (not thread-safe: its owner locks).</summary>
internal sealed class ByteRing(int capacity)
{
    private readonly byte[] _buffer = new byte[capacity];
    private int _head;

    public int Count { get; private set; }
    public int Capacity => _buffer.Length;
    public int Free => _buffer.Length - Count;

    /// <summary>Appends all of <paramref name="data"/>; the caller checked <see cref="Free"/>.</summary>
    public void Write(ReadOnlySpan<byte> data)
    {
        int tail = (_head + Count) % _buffer.Length;
        int first = Math.Min(data.Length, _buffer.Length - tail);
        data[..first].CopyTo(_buffer.AsSpan(tail));
        data[first..].CopyTo(_buffer);
        Count += data.Length;
    }

    /// <summary>The contiguous free space at the tail (for a socket to read into); commit with <see cref="Commit"/>.</summary>
    public Span<byte> FreeSpan()
    {
        int tail = (_head + Count) % _buffer.Length;
        int contiguous = tail >= _head && Count != _buffer.Length ? _buffer.Length - tail : _head - tail;
        return _buffer.AsSpan(tail, Math.Min(contiguous, Free));
    }

    public void Commit(int bytes) => Count += bytes;

    /// <summary>The contiguous readable bytes at the head; release with <see cref="Consume"/>.</summary>
    public ReadOnlySpan<byte> DataSpan() => _buffer.AsSpan(_head, Math.Min(Count, _buffer.Length - _head));

    public void Consume(int bytes)
    {
        _head = (_head + bytes) % _buffer.Length;
        Count -= bytes;
        if (Count == 0) _head = 0;
    }
}
