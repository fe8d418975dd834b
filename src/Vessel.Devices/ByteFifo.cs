namespace Vessel.Devices;

/// <summary>A fixed-capacity ring of bytes (device FIFOs). Not thread-safe: the owning device locks.</summary>
internal sealed class ByteFifo(int capacity)
{
    private readonly byte[] _items = new byte[capacity];
    private int _head;

    public int Capacity => _items.Length;
    public int Count { get; private set; }
    public bool IsEmpty => Count == 0;

    public bool TryEnqueue(byte value)
    {
        if (Count == _items.Length)
            return false;
        _items[(_head + Count) % _items.Length] = value;
        Count++;
        return true;
    }

    public bool TryDequeue(out byte value)
    {
        if (Count == 0)
        {
            value = 0;
            return false;
        }
        value = _items[_head];
        _head = (_head + 1) % _items.Length;
        Count--;
        return true;
    }

    public void Clear()
    {
        _head = 0;
        Count = 0;
    }
}
