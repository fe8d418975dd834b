using Vessel.Virtio.Block;
using Vessel.Virtio.Hvc;
using Vessel.Virtio.Devices;
using Vessel.Virtio.Entropy;

namespace Vessel.Virtio.Tests;

/// <summary>How one fuzz case ended (for the seeded test's statistics).</summary>
public enum FuzzOutcome { Completed, NothingPublished, NeedsReset, WaitingForInput }

/// <summary>
/// One virtqueue fuzz case from arbitrary bytes, for SharpFuzz (<see cref="Run"/>) and the seeded test. The bytes pick
/// a device (blk, rng, console transmit, console receive), ring features, a queue size, descriptors (mostly
/// pointing into a data area, sometimes into an indirect-table area, sometimes anywhere: outside RAM, across
/// regions, overflowing), indirect tables, avail entries and index, used_event, and request headers. The device is
/// activated on that queue, kicked and drained. It must end with every published chain used, or with exactly one
/// NeedsReset that is not an internal error; it must not throw, hang, or write outside guest RAM (a canary region
/// the guest cannot address stays intact).
/// </summary>
public static class VirtqueueFuzzTarget
{
    private const ulong DescriptorTable = 0x1_0000, AvailRing = 0x1_4000, UsedRing = 0x1_8000;
    private const ulong DataArea = 0x2_0000, DataBytes = 0x1_0000, IndirectArea = 0x3_0000, IndirectTables = 16;
    private static readonly uint[] BlockTypes = [0, 1, 4, 8, 11, 13, 99];
    private static readonly Lazy<string> BlockImage = new(CreateImage);

    public static void Run(ReadOnlySpan<byte> data) => RunCase(data, out _);

    public static FuzzOutcome RunCase(ReadOnlySpan<byte> data, out string? resetReason)
    {
        resetReason = null;
        var input = new FuzzInput(data);
        int kind = input.Byte() % 4;
        byte featureBits = input.Byte();
        byte sizeBits = input.Byte();
        ushort size = (sizeBits & 0xF8) == 0xF8 ? (ushort)((sizeBits & 1) != 0 ? 3 : 512) : (ushort)(1 << (sizeBits % 7));

        using var ram = new GuestRam();
        var memory = ram.Memory;
        var interrupt = new RecordingInterrupt();
        QueuedVirtioDevice device = kind switch
        {
            0 => new VirtioBlock(new VirtioBlockOptions(BlockImage.Value, Id: "fuzz")),
            1 => new VirtioRng(Vessel.Devices.RateLimiting.RateLimit.None),
            _ => new VirtioConsole(_ => { }),
        };
        using var _ = device;
        int queueIndex = kind == 3 ? VirtioConsole.ReceiveQueue : kind == 2 ? VirtioConsole.TransmitQueue : 0;

        // Request headers (and discard segments) at the start of every 256 bytes of the data area; the rest random.
        for (ulong at = DataArea; at < DataArea + DataBytes; at += 256)
        {
            memory.WriteUInt32(at, BlockTypes[input.Byte() % BlockTypes.Length]);
            memory.WriteUInt64(at + 8, input.Byte() % 4 == 0 ? input.UInt64() : input.Byte());
            memory.WriteUInt64(at + 16, input.Byte());
            memory.WriteUInt32(at + 24, input.Byte() % 3 == 0 ? input.UInt32() : input.Byte());
            memory.WriteUInt32(at + 28, input.Byte() % 8 == 0 ? 1u : 0u);
        }
        for (ulong t = 0; t < IndirectTables * 16; t++)
            WriteDescriptor(memory, IndirectArea + t * 16, ref input, 16);
        // Half the cases lay the table out as a driver would (chains of header, data, status), a few descriptors of
        // it then overwritten at random; the other half are random tables. Heads are chain starts or random.
        var heads = new ushort[size];
        int chains = (featureBits & 4) != 0
            ? WriteChains(memory, ref input, size, heads, minLength: kind == 0 ? 2 : 1)
            : WriteRandomTable(memory, ref input, size, heads);
        byte p = input.Byte();
        int published = (p & 0xF0) == 0xF0 ? size + 1 + (p & 0xF) : p % (chains + 1);
        for (int i = 0; i < published; i++)
        {
            byte h = input.Byte();
            ushort head = (h & 0x1F) == 0x1F ? (ushort)(size + h % 4) : heads[i % chains];
            memory.WriteUInt16(AvailRing + 4 + 2UL * (ulong)(i % size), head);
        }
        memory.WriteUInt16(AvailRing, (ushort)(input.Byte() & 1));
        memory.WriteUInt16(AvailRing + 2, (ushort)published);
        memory.WriteUInt16(AvailRing + 4 + 2UL * size, input.Byte());

        ulong features = VirtioFeatures.Version1 |
            ((featureBits & 1) != 0 ? VirtioFeatures.RingIndirectDescriptors : 0) |
            ((featureBits & 2) != 0 ? VirtioFeatures.RingEventIndex : 0);
        var queues = new VirtioQueueConfig?[device.QueueCount];
        queues[queueIndex] = new VirtioQueueConfig(size, DescriptorTable, AvailRing, UsedRing);
        if (device is VirtioConsole console)
            console.Receive(new byte[input.Byte() * 8]);
        device.Activate(new VirtioActivation(memory, features, queues, interrupt));
        device.QueueNotify(queueIndex);
        if (!device.Drain())
            throw new TimeoutException("the device did not finish a fuzz case");

        var resets = interrupt.Resets;
        if (!ram.CanaryIntact)
            throw new InvalidOperationException("a device wrote outside guest RAM");
        if (resets.Count > 1)
            throw new InvalidOperationException($"NeedsReset was reported {resets.Count} times");
        if (resets.Count == 1)
        {
            if (resets[0].Contains("internal error", StringComparison.Ordinal))
                throw new InvalidOperationException($"the device failed on its own: {resets[0]}");
            resetReason = resets[0];
            return FuzzOutcome.NeedsReset;
        }
        ushort avail = memory.ReadUInt16(AvailRing + 2), used = memory.ReadUInt16(UsedRing + 2);
        if (avail == used)
            return used == 0 ? FuzzOutcome.NothingPublished : FuzzOutcome.Completed;
        if (device is VirtioConsole { PendingInputCount: 0 } && kind == 3)
            return FuzzOutcome.WaitingForInput;
        throw new InvalidOperationException($"{published} chains published (avail {avail}), {used} used, and no NeedsReset");
    }

    private static int WriteRandomTable(Hypervisor.GuestMemory memory, ref FuzzInput input, ushort size, Span<ushort> heads)
    {
        for (int i = 0; i < size; i++)
        {
            WriteDescriptor(memory, DescriptorTable + (ulong)i * 16, ref input, size);
            heads[i] = (ushort)(input.Byte() % size);
        }
        return size;
    }

    /// <summary>Chains as Linux lays them out: a readable header (sometimes with discard segments), readable or
    /// writable data, a writable status byte; one descriptor in sixteen then replaced by a random one.</summary>
    private static int WriteChains(Hypervisor.GuestMemory memory, ref FuzzInput input, ushort size, Span<ushort> heads, int minLength)
    {
        int chains = 0, i = 0;
        while (i < size)
        {
            int length = Math.Min(minLength + input.Byte() % (5 - minLength), size - i);
            byte slot = input.Byte();
            uint type = memory.ReadUInt32(DataArea + (ulong)slot * 256);
            // Data goes the way the header's request type needs, mostly (for blk; the other devices ignore headers).
            bool dataWritable = (input.Byte() & 0xF) == 0xF ? (slot & 1) != 0 : type is 0 or 8;
            heads[chains++] = (ushort)i;
            for (int k = 0; k < length; k++, i++)
            {
                ulong at = DescriptorTable + (ulong)i * 16;
                bool last = k == length - 1;
                if (k > 0)
                    slot = input.Byte();
                ulong address; uint bytes; bool writable;
                if (k == 0 && length > 1)
                    (address, bytes, writable) = (DataArea + (ulong)slot * 256, type is 11 or 13 ? 32u : 16u, false);
                else if (last && length > 1)
                    (address, bytes, writable) = (DataArea + DataBytes - 1 - slot, 1u, true);
                else
                    (address, bytes, writable) = (DataArea + (ulong)(slot % 64) * 512, 512u * (uint)(1 + input.Byte() % 4), dataWritable);
                if (address + bytes > DataArea + DataBytes)
                    bytes = (uint)(DataArea + DataBytes - address);
                memory.WriteUInt64(at, address);
                memory.WriteUInt32(at + 8, bytes);
                memory.WriteUInt16(at + 12, (ushort)((writable ? 2 : 0) | (last ? 0 : 1)));
                memory.WriteUInt16(at + 14, (ushort)(last ? 0 : i + 1));
                if ((input.Byte() & 0xF) == 0xF)
                    WriteDescriptor(memory, at, ref input, size);
            }
        }
        return chains;
    }

    /// <summary>A descriptor from 8 input bytes, biased so that most are valid and the rest break a rule.</summary>
    private static void WriteDescriptor(Hypervisor.GuestMemory memory, ulong at, ref FuzzInput input, int tableSize)
    {
        ushort a = input.UInt16();
        byte mode = input.Byte();
        uint length = (uint)(input.Byte() | (input.Byte() & 3) << 8);
        byte flagBits = input.Byte();
        byte next = input.Byte();
        input.Byte();
        ulong address = (mode >> 4) switch
        {
            < 12 => DataArea + a % DataBytes,
            < 15 => IndirectArea + (ulong)(a % IndirectTables) * 256,
            _ => (a % 4) switch
            {
                0 => GuestRam.RamBytes - (ulong)(a % 64),
                1 => GuestRam.HighBase + GuestRam.HighBytes - (ulong)(a % 64),
                2 => ulong.MaxValue - (ulong)a,
                _ => (ulong)a << 20,
            },
        };
        if ((mode & 0xF) == 0xF)
            length = uint.MaxValue - (uint)(a % 64);
        else if ((mode & 0x4) != 0)
            length *= 16;
        ushort flags = (ushort)(flagBits & 3);
        if ((flagBits & 0xF8) == 0)
            flags |= 4; // indirect, rarely
        memory.WriteUInt64(at, address);
        memory.WriteUInt32(at + 8, length);
        memory.WriteUInt16(at + 12, flags);
        memory.WriteUInt16(at + 14, (ushort)((next & 0x1F) == 0x1F ? tableSize : next % tableSize));
    }

    private static string CreateImage()
    {
        string path = Path.Combine(Path.GetTempPath(), $"vessel-virtio-fuzz-{Environment.ProcessId}.img");
        File.WriteAllBytes(path, new byte[64 * 1024]);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => File.Delete(path);
        return path;
    }

    /// <summary>Reads the fuzz input front to back; past its end every read is 0.</summary>
    private ref struct FuzzInput(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _data = data;

        public byte Byte()
        {
            if (_data.IsEmpty)
                return 0;
            byte b = _data[0];
            _data = _data[1..];
            return b;
        }

        public ushort UInt16() => (ushort)(Byte() | Byte() << 8);
        public uint UInt32() => UInt16() | (uint)UInt16() << 16;
        public ulong UInt64() => UInt32() | (ulong)UInt32() << 32;
    }
}
