namespace Vessel.Virtio.Block;

/// <summary>What a virtio-blk device has served, as Firecracker's block metrics count it. Written on the device's
/// worker thread only (plain increments), read from any thread.</summary>
public sealed class BlockCounters
{
    private long _readCount, _readBytes, _writeCount, _writeBytes, _flushCount, _otherCount, _failedCount;

    public long ReadCount => Volatile.Read(ref _readCount);
    public long ReadBytes => Volatile.Read(ref _readBytes);
    public long WriteCount => Volatile.Read(ref _writeCount);
    public long WriteBytes => Volatile.Read(ref _writeBytes);
    public long FlushCount => Volatile.Read(ref _flushCount);
    /// <summary>GET_ID, DISCARD, WRITE_ZEROES and unknown request types.</summary>
    public long OtherCount => Volatile.Read(ref _otherCount);
    /// <summary>Requests answered with an error status (out of range, I/O error, read-only, unsupported).</summary>
    public long FailedCount => Volatile.Read(ref _failedCount);

    internal void Record(uint type, byte status, ulong dataBytes)
    {
        if (status != VirtioBlock.StatusOk)
        {
            Volatile.Write(ref _failedCount, _failedCount + 1);
            return;
        }
        switch (type)
        {
            case VirtioBlock.TypeIn:
                Volatile.Write(ref _readCount, _readCount + 1);
                Volatile.Write(ref _readBytes, _readBytes + (long)dataBytes);
                break;
            case VirtioBlock.TypeOut:
                Volatile.Write(ref _writeCount, _writeCount + 1);
                Volatile.Write(ref _writeBytes, _writeBytes + (long)dataBytes);
                break;
            case VirtioBlock.TypeFlush:
                Volatile.Write(ref _flushCount, _flushCount + 1);
                break;
            default:
                Volatile.Write(ref _otherCount, _otherCount + 1);
                break;
        }
    }
}
