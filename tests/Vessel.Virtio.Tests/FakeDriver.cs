using Vessel.Hypervisor;

namespace Vessel.Virtio.Tests;

/// <summary>One buffer of a chain as the driver describes it.</summary>
internal readonly record struct Buf(ulong Address, uint Length, bool Writable = false)
{
    public static Buf R(ulong address, uint length) => new(address, length, false);
    public static Buf W(ulong address, uint length) => new(address, length, true);
}

/// <summary>Records what a device asked of its transport.</summary>
internal sealed class RecordingInterrupt : IVirtioInterrupt
{
    private readonly int[] _queueInterrupts = new int[8];
    private readonly List<string> _resets = [];

    public int QueueInterrupts(int queue) => Volatile.Read(ref _queueInterrupts[queue]);
    public int ConfigInterrupts;

    public IReadOnlyList<string> Resets { get { lock (_resets) return [.. _resets]; } }

    public void QueueInterrupt(int queueIndex) => Interlocked.Increment(ref _queueInterrupts[queueIndex]);
    public void ConfigInterrupt() => Interlocked.Increment(ref ConfigInterrupts);
    public void NeedsReset(string reason) { lock (_resets) _resets.Add(reason); }
}

/// <summary>
/// Guest RAM for the fake driver: <see cref="RamBytes"/> at guest-physical 0, and a second small region after a hole
/// (at <see cref="HighBase"/>), so "outside RAM" and "across regions" can both be asked for. A canary region that the
/// guest cannot address is filled with a pattern; <see cref="CanaryIntact"/> checks no device wrote it.
/// </summary>
internal sealed class GuestRam : IDisposable
{
    public const ulong RamBytes = 4 << 20;
    public const ulong HighBase = 0x100_0000, HighBytes = 64 << 10;
    private const byte CanaryByte = 0xA5;

    private readonly GuestMemoryRegion _low = new(RamBytes);
    private readonly GuestMemoryRegion _high = new(HighBytes);
    private readonly GuestMemoryRegion _canary = new(64 << 10);
    private ulong _next = 0x10_0000;

    public GuestRam()
    {
        Memory.Map(0, 0, _low);
        Memory.Map(1, HighBase, _high);
        _canary.AsSpan(0, (int)_canary.Size).Fill(CanaryByte);
    }

    public GuestMemory Memory { get; } = new();

    public bool CanaryIntact => !_canary.AsSpan(0, (int)_canary.Size).ContainsAnyExcept(CanaryByte);

    /// <summary>Bump-allocates a data buffer (from 1 MiB up; rings live below).</summary>
    public ulong Alloc(int bytes, int align = 16)
    {
        ulong at = (_next + (ulong)align - 1) & ~((ulong)align - 1);
        _next = at + (ulong)bytes;
        if (_next > RamBytes) throw new InvalidOperationException("fake guest RAM exhausted");
        return at;
    }

    public void ResetHeap() => _next = 0x10_0000;

    public byte[] Read(ulong address, int length)
    {
        var b = new byte[length];
        Memory.Read(address, b);
        return b;
    }

    public void Dispose()
    {
        _low.Dispose();
        _high.Dispose();
        _canary.Dispose();
    }
}

/// <summary>The driver's side of one split virtqueue in <see cref="GuestRam"/>: it writes descriptors, publishes
/// them in the available ring and reads the used ring, as Linux's virtio_ring does.</summary>
internal sealed class FakeQueue
{
    public const ushort FlagNext = 1, FlagWrite = 2, FlagIndirect = 4;

    private readonly GuestMemory _memory;
    private ushort _nextDescriptor;
    private ushort _lastUsed;

    public FakeQueue(GuestMemory memory, ushort size, ulong descriptors, ulong avail, ulong used)
    {
        _memory = memory;
        Size = size;
        Descriptors = descriptors;
        Avail = avail;
        Used = used;
        memory.Fill(descriptors, 16 * size, 0);
        memory.Fill(avail, 6 + 2 * size, 0);
        memory.Fill(used, 6 + 8 * size, 0);
    }

    public ushort Size { get; }
    public ulong Descriptors { get; }
    public ulong Avail { get; }
    public ulong Used { get; }
    public ushort AvailIndex { get; private set; }

    public VirtioQueueConfig Config => new(Size, Descriptors, Avail, Used);

    public void SetDescriptor(int index, ulong address, uint length, ushort flags, ushort next)
    {
        ulong d = Descriptors + 16UL * (ulong)index;
        _memory.WriteUInt64(d, address);
        _memory.WriteUInt32(d + 8, length);
        _memory.WriteUInt16(d + 12, flags);
        _memory.WriteUInt16(d + 14, next);
    }

    /// <summary>Writes <paramref name="buffers"/> as a direct chain in the next free descriptors and publishes it.</summary>
    public ushort AddChain(params Buf[] buffers)
    {
        ushort head = WriteChain(buffers);
        Publish(head);
        return head;
    }

    public ushort WriteChain(params Buf[] buffers)
    {
        ushort head = _nextDescriptor;
        for (int i = 0; i < buffers.Length; i++)
        {
            ushort index = (ushort)((head + i) % Size);
            ushort next = (ushort)((index + 1) % Size);
            bool last = i == buffers.Length - 1;
            SetDescriptor(index, buffers[i].Address, buffers[i].Length,
                (ushort)((buffers[i].Writable ? FlagWrite : 0) | (last ? 0 : FlagNext)), last ? (ushort)0 : next);
        }
        _nextDescriptor = (ushort)((head + buffers.Length) % Size);
        return head;
    }

    /// <summary>Writes <paramref name="buffers"/> as an indirect table at <paramref name="table"/>, referenced by one
    /// descriptor, and publishes it.</summary>
    public ushort AddIndirectChain(ulong table, params Buf[] buffers)
    {
        for (int i = 0; i < buffers.Length; i++)
        {
            ulong d = table + 16UL * (ulong)i;
            bool last = i == buffers.Length - 1;
            _memory.WriteUInt64(d, buffers[i].Address);
            _memory.WriteUInt32(d + 8, buffers[i].Length);
            _memory.WriteUInt16(d + 12, (ushort)((buffers[i].Writable ? FlagWrite : 0) | (last ? 0 : FlagNext)));
            _memory.WriteUInt16(d + 14, (ushort)(last ? 0 : i + 1));
        }
        ushort head = _nextDescriptor;
        SetDescriptor(head, table, (uint)(16 * buffers.Length), FlagIndirect, 0);
        _nextDescriptor = (ushort)((head + 1) % Size);
        Publish(head);
        return head;
    }

    public void Publish(ushort head)
    {
        _memory.WriteUInt16(Avail + 4 + 2UL * (ulong)(AvailIndex % Size), head);
        AvailIndex++;
        _memory.WriteUInt16(Avail + 2, AvailIndex);
    }

    /// <summary>Sets avail.idx directly (to test a driver that jumps it).</summary>
    public void SetAvailIndex(ushort index)
    {
        AvailIndex = index;
        _memory.WriteUInt16(Avail + 2, index);
    }

    public void SetAvailFlags(ushort flags) => _memory.WriteUInt16(Avail, flags);
    public void SetUsedEvent(ushort value) => _memory.WriteUInt16(Avail + 4 + 2UL * Size, value);
    public ushort AvailEvent => _memory.ReadUInt16(Used + 4 + 8UL * Size);
    public ushort UsedIndex => _memory.ReadUInt16(Used + 2);

    public bool TryTakeUsed(out uint id, out uint length)
    {
        if (UsedIndex == _lastUsed)
        {
            id = length = 0;
            return false;
        }
        ulong e = Used + 4 + 8UL * (ulong)(_lastUsed % Size);
        id = _memory.ReadUInt32(e);
        length = _memory.ReadUInt32(e + 4);
        _lastUsed++;
        return true;
    }

    public (uint Id, uint Length) TakeUsed()
    {
        Assert.True(TryTakeUsed(out uint id, out uint length), "the device returned no used buffer");
        return (id, length);
    }
}

/// <summary>A guest with queues laid out below 1 MiB (queue q at 0x10000 * (q + 1)) and a device activated on them.</summary>
internal sealed class FakeDriver : IDisposable
{
    public FakeDriver(IVirtioDevice device, ushort queueSize = 64, ulong? features = null, int? queues = null)
    {
        Device = device;
        int count = queues ?? device.QueueCount;
        Queues = new FakeQueue[count];
        for (int q = 0; q < count; q++)
        {
            ulong b = 0x1_0000UL * (ulong)(q + 1);
            Queues[q] = new FakeQueue(Ram.Memory, queueSize, b, b + 0x4000, b + 0x8000);
        }
        Features = features ?? device.OfferedFeatures;
    }

    public GuestRam Ram { get; } = new();
    public RecordingInterrupt Interrupt { get; } = new();
    public IVirtioDevice Device { get; }
    public FakeQueue[] Queues { get; }
    public ulong Features { get; }

    public void Activate(params VirtioQueueConfig?[] overrides)
    {
        var configs = new VirtioQueueConfig?[Queues.Length];
        for (int q = 0; q < Queues.Length; q++)
            configs[q] = q < overrides.Length && overrides[q] != null ? overrides[q] : Queues[q].Config;
        Device.Activate(new VirtioActivation(Ram.Memory, Features, configs, Interrupt));
    }

    /// <summary>Kicks queue <paramref name="queue"/> and waits until the device has served it.</summary>
    public void Kick(int queue = 0)
    {
        Device.QueueNotify(queue);
        Drain();
    }

    public void Drain()
    {
        if (Device is Devices.QueuedVirtioDevice d)
            Assert.True(d.Drain(), "the device did not finish its work");
    }

    public void Dispose()
    {
        Device.Dispose();
        Ram.Dispose();
    }
}
