using Vessel.Hypervisor;

namespace Vessel.Virtio.Queues;

public enum PopResult
{
    /// <summary>The driver has made no new buffer available.</summary>
    Empty,
    /// <summary>A valid chain was read into the caller's <see cref="DescriptorChain"/>.</summary>
    Chain,
    /// <summary>The driver broke the protocol; <see cref="SplitQueue.Violation"/> says how. The queue stays broken.</summary>
    Broken,
}

/// <summary>
/// The device side of one split virtqueue (virtio 1.x, 2.7): reads the available ring, walks and validates
/// descriptor chains (direct and indirect), publishes used buffers and decides when the driver wants an
/// interrupt (the no-interrupt flag, or used_event with VIRTIO_F_EVENT_IDX). Knows nothing of devices or
/// transports. Not thread-safe: one thread (the device's worker) drives it at a time; the driver runs
/// concurrently on vCPU threads, so every ring access is ordered as the spec requires.
/// Every address the driver hands over is checked to lie inside one guest RAM region before it is used;
/// a bad one breaks the queue (<see cref="PopResult.Broken"/>) and nothing is touched.
/// </summary>
public sealed unsafe class SplitQueue
{
    public const ushort LargestSize = 32768;
    public const int DescriptorBytes = 16;

    private const ushort DescNext = 1, DescWrite = 2, DescIndirect = 4;
    private const ushort AvailNoInterrupt = 1;

    private readonly byte* _descriptors;
    private readonly byte* _avail;
    private readonly byte* _used;
    private readonly GuestMemory _memory;
    private readonly VirtioQueueConfig _config;
    private readonly bool _eventIndex;
    private readonly bool _indirect;
    private readonly ushort _mask;

    private ushort _nextAvail;
    private ushort _nextUsed;
    private ushort _signalledUsed;

    private SplitQueue(GuestMemory memory, VirtioQueueConfig config, ulong features, byte* descriptors, byte* avail, byte* used)
    {
        _memory = memory;
        _config = config;
        _descriptors = descriptors;
        _avail = avail;
        _used = used;
        _eventIndex = (features & VirtioFeatures.RingEventIndex) != 0;
        _indirect = (features & VirtioFeatures.RingIndirectDescriptors) != 0;
        _mask = (ushort)(config.Size - 1);
    }

    public ushort Size => _config.Size;

    public GuestMemory Memory => _memory;

    /// <summary>Why the queue broke (one line for the log), or null.</summary>
    public string? Violation { get; private set; }

    public ushort NextAvailable => _nextAvail;

    public ushort NextUsed => _nextUsed;

    public SplitQueueState State => new(_config.Size, _config.DescriptorTable, _config.AvailableRing, _config.UsedRing,
        _nextAvail, _nextUsed, _signalledUsed, Violation);

    /// <summary>Validates the driver's queue layout (size a power of two no larger than <paramref name="maxSize"/>,
    /// rings aligned and inside guest RAM) and returns the queue, or null with <paramref name="error"/> set.</summary>
    public static SplitQueue? TryCreate(GuestMemory memory, VirtioQueueConfig config, ulong negotiatedFeatures,
        ushort maxSize, out string? error)
    {
        ushort size = config.Size;
        if (size == 0 || (size & (size - 1)) != 0 || size > maxSize || size > LargestSize)
        {
            error = $"queue size {size} is not a power of two between 1 and {Math.Min(maxSize, LargestSize)}";
            return null;
        }
        if (config.DescriptorTable % 16 != 0 || config.AvailableRing % 2 != 0 || config.UsedRing % 4 != 0)
        {
            error = $"queue rings misaligned (descriptors 0x{config.DescriptorTable:x}, avail 0x{config.AvailableRing:x}, used 0x{config.UsedRing:x})";
            return null;
        }
        byte* descriptors = memory.TryGetPointer(config.DescriptorTable, (ulong)size * DescriptorBytes);
        byte* avail = memory.TryGetPointer(config.AvailableRing, 6 + 2UL * size);
        byte* used = memory.TryGetPointer(config.UsedRing, 6 + 8UL * size);
        if (descriptors == null || avail == null || used == null)
        {
            error = $"queue rings outside guest RAM (descriptors 0x{config.DescriptorTable:x}, avail 0x{config.AvailableRing:x}, used 0x{config.UsedRing:x}, size {size})";
            return null;
        }
        error = null;
        return new SplitQueue(memory, config, negotiatedFeatures, descriptors, avail, used);
    }

    /// <summary>Takes the next available chain into <paramref name="chain"/> (whose capacity must be at least
    /// <see cref="Size"/>), validating every descriptor of it.</summary>
    public PopResult TryPop(DescriptorChain chain)
    {
        if (Violation != null)
            return PopResult.Broken;
        if (chain.Capacity < Size)
            throw new ArgumentException($"a chain for this queue needs room for {Size} segments", nameof(chain));
        // Acquire: the ring entry and descriptors the driver wrote before bumping idx are read after it.
        ushort availIdx = Volatile.Read(ref *(ushort*)(_avail + 2));
        ushort pending = (ushort)(availIdx - _nextAvail);
        if (pending == 0)
            return PopResult.Empty;
        if (pending > Size)
            return Break($"available index {availIdx} is {pending} entries ahead of the device's {_nextAvail} (queue size {Size})");
        ushort head = *(ushort*)(_avail + 4 + 2 * (_nextAvail & _mask));
        if (head >= Size)
            return Break($"available ring entry {_nextAvail} names descriptor {head} (queue size {Size})");
        if (!Walk(head, chain))
            return PopResult.Broken;
        _nextAvail++;
        return PopResult.Chain;
    }

    private bool Walk(ushort head, DescriptorChain chain)
    {
        chain.Begin(head);
        byte* table = _descriptors;
        uint tableEntries = Size;
        uint index = head;
        bool inIndirect = false, seenWritable = false;
        int count = 0;
        while (true)
        {
            byte* d = table + index * (uint)DescriptorBytes;
            ulong address = *(ulong*)d;
            uint length = *(uint*)(d + 8);
            ushort flags = *(ushort*)(d + 12);
            ushort next = *(ushort*)(d + 14);

            if ((flags & DescIndirect) != 0)
            {
                if (!_indirect)
                    return BreakFalse($"descriptor {index} of chain {head} is indirect, but VIRTIO_F_INDIRECT_DESC was not negotiated");
                if (inIndirect)
                    return BreakFalse($"chain {head}: an indirect table holds another indirect descriptor");
                if ((flags & DescNext) != 0)
                    return BreakFalse($"chain {head}: descriptor {index} is both indirect and chained");
                if (length == 0 || length % DescriptorBytes != 0 || length / DescriptorBytes > Size)
                    return BreakFalse($"chain {head}: indirect table of {length} bytes (must be a non-zero multiple of 16, at most {Size} entries)");
                byte* indirectTable = _memory.TryGetPointer(address, length);
                if (indirectTable == null)
                    return BreakFalse($"chain {head}: indirect table 0x{address:x}+{length} is outside guest RAM");
                table = indirectTable;
                tableEntries = length / DescriptorBytes;
                index = 0;
                inIndirect = true;
                continue;
            }

            // Each table is walked at most Size entries deep, so a loop ends here, never hangs.
            if (++count > Size)
                return BreakFalse($"chain {head} is longer than the queue size {Size} (a loop?)");
            bool writable = (flags & DescWrite) != 0;
            if (writable)
                seenWritable = true;
            else if (seenWritable)
                return BreakFalse($"chain {head}: a device-readable descriptor follows a device-writable one");
            if (length != 0)
            {
                byte* host = _memory.TryGetPointer(address, length);
                if (host == null)
                    return BreakFalse($"chain {head}: buffer 0x{address:x}+{length} is outside guest RAM");
                chain.Add(host, address, length, writable);
            }
            if ((flags & DescNext) == 0)
                return true;
            if (next >= tableEntries)
                return BreakFalse($"chain {head}: next descriptor {next} is outside its table of {tableEntries}");
            index = next;
        }
    }

    /// <summary>Gives back the chain the last <see cref="TryPop"/> took: the next pop reads it again. For a device that
    /// may not serve it yet (a rate limit); only straight after a pop that returned <see cref="PopResult.Chain"/>.</summary>
    public void UndoPop() => _nextAvail--;

    /// <summary>Returns chain <paramref name="head"/> to the driver with <paramref name="writtenBytes"/> written.</summary>
    public void AddUsed(ushort head, uint writtenBytes)
    {
        byte* element = _used + 4 + 8 * (_nextUsed & _mask);
        *(uint*)element = head;
        *(uint*)(element + 4) = writtenBytes;
        _nextUsed++;
        // Release: the element is visible before the index that publishes it.
        Volatile.Write(ref *(ushort*)(_used + 2), _nextUsed);
    }

    /// <summary>Writes a used element without publishing it: <see cref="PublishUsed"/> then makes every element written
    /// so far visible at once (virtio-net's merged receive buffers, which the driver must see together).</summary>
    public void AddUsedUnpublished(ushort head, uint writtenBytes)
    {
        byte* element = _used + 4 + 8 * (_nextUsed & _mask);
        *(uint*)element = head;
        *(uint*)(element + 4) = writtenBytes;
        _nextUsed++;
    }

    /// <summary>Publishes the elements written by <see cref="AddUsedUnpublished"/>.</summary>
    public void PublishUsed() => Volatile.Write(ref *(ushort*)(_used + 2), _nextUsed);

    /// <summary>After one or more <see cref="AddUsed"/>: does the driver want an interrupt for them?</summary>
    public bool ShouldInterrupt()
    {
        // The used index store must be visible before the driver's flags/used_event are read (store-load).
        Interlocked.MemoryBarrier();
        ushort newUsed = _nextUsed;
        ushort oldUsed = _signalledUsed;
        _signalledUsed = newUsed;
        if (_eventIndex)
        {
            ushort usedEvent = Volatile.Read(ref *(ushort*)(_avail + 4 + 2 * Size));
            return (ushort)(newUsed - usedEvent - 1) < (ushort)(newUsed - oldUsed);
        }
        return newUsed != oldUsed && (Volatile.Read(ref *(ushort*)_avail) & AvailNoInterrupt) == 0;
    }

    /// <summary>Called when the device has drained the queue: with EVENT_IDX, asks the driver to notify at the
    /// next available entry. Returns true when more entries arrived meanwhile (drain again).</summary>
    public bool ArmNotification()
    {
        if (Violation != null)
            return false;
        if (_eventIndex)
            Volatile.Write(ref *(ushort*)(_used + 4 + 8 * Size), _nextAvail);
        // The avail_event store must be visible before idx is re-read, or a kick could be missed.
        Interlocked.MemoryBarrier();
        return Volatile.Read(ref *(ushort*)(_avail + 2)) != _nextAvail;
    }

    /// <summary>Marks the queue broken (a device-level protocol violation found in a chain).</summary>
    public void MarkBroken(string reason) => Violation ??= reason;

    private PopResult Break(string reason)
    {
        Violation ??= reason;
        return PopResult.Broken;
    }

    private bool BreakFalse(string reason)
    {
        Violation ??= reason;
        return false;
    }
}

/// <summary>A queue's position, for pause and snapshots.</summary>
public sealed record SplitQueueState(ushort Size, ulong DescriptorTable, ulong AvailableRing, ulong UsedRing,
    ushort NextAvailable, ushort NextUsed, ushort SignalledUsed, string? Violation);
