using Vessel.Virtio.Devices;
using Vessel.Virtio.Net;
using Vessel.Virtio.Tests.Vsock;
using Vessel.Virtio.Vsock;
using Xunit.Abstractions;

namespace Vessel.Virtio.Tests.Net;

/// <summary>
/// Seeded random virtqueues against virtio-net (with host frames arriving) and virtio-vsock (with plausible packet
/// headers in the data, and a listener for some ports): descriptors into a data area or anywhere (outside RAM, across
/// regions, overflowing), random flags (next, write, indirect) and links, avail entries and index, used_event. Every
/// case must end without an escaped exception or a hang, with nothing written outside guest RAM, and with at most one
/// NeedsReset that is not an internal error. Both clean and broken outcomes must be common.
/// </summary>
public sealed class NetVsockFuzzTests(ITestOutputHelper output)
{
    private const ulong DataArea = 0x2_0000, DataBytes = 0x1_0000, IndirectArea = 0x3_0000;

    [Theory]
    [InlineData("net")]
    [InlineData("vsock")]
    public void Random_queues_never_escape_hang_or_touch_outside_guest_ram(string kind)
    {
        int cases = int.TryParse(Environment.GetEnvironmentVariable("VESSEL_VIRTIO_FUZZ_CASES"), out int n) ? n / 3 : 500;
        using var dir = new TempDirectory();
        int clean = 0, broken = 0;
        for (int seed = 0; seed < cases; seed++)
        {
            try
            {
                if (RunCase(kind, seed, dir.Path)) broken++; else clean++;
            }
            catch (Exception e)
            {
                Assert.Fail($"{kind}, seed {seed}: {e}");
            }
        }
        output.WriteLine($"{kind}: {clean} cases served to the end, {broken} ended in NeedsReset");
        Assert.True(clean > cases / 20 && broken > cases / 20, $"outcomes too one-sided: clean {clean}, broken {broken}");
    }

    /// <summary>One case; true when the device asked for a reset.</summary>
    private static bool RunCase(string kind, int seed, string directory)
    {
        var random = new Random(seed);
        FakeNetBackend? backend = null;
        QueuedVirtioDevice device;
        string uds = Path.Combine(directory, $"f{seed}.sock");
        System.Net.Sockets.Socket? listener = null;
        if (kind == "net")
        {
            backend = new FakeNetBackend(vnetHeader: random.Next(2) == 0);
            device = new VirtioNet(backend, MacAddress.Default(0));
        }
        else
        {
            device = new VirtioVsock(new VsockOptions(FakeVsockGuest.Cid, uds));
            listener = UnixSockets.Listen(uds + "_5");
        }
        ushort size = (ushort)(1 << random.Next(0, 9));
        var features = device.OfferedFeatures & (random.Next(2) == 0 ? ~0UL : ~(VirtioFeatures.RingEventIndex | VirtioFeatures.RingIndirectDescriptors | NetFeatures.MergeableRxBuffers));
        using var d = new FakeDriver(device, queueSize: size, features: features);
        using var _ = listener;
        var memory = d.Ram.Memory;

        var fill = new byte[DataBytes];
        random.NextBytes(fill);
        memory.Write(DataArea, fill);
        if (kind == "vsock")
        {
            // Plausible headers every 256 bytes: from the guest's CID to the host, ports 5 or random, any op.
            for (ulong at = DataArea; at < DataArea + DataBytes; at += 256)
            {
                var h = new VsockHeader
                {
                    SourceCid = random.Next(8) == 0 ? (ulong)random.Next() : FakeVsockGuest.Cid,
                    DestinationCid = random.Next(8) == 0 ? 9 : VsockHeader.HostCid,
                    SourcePort = (uint)random.Next(1, 4),
                    DestinationPort = random.Next(2) == 0 ? 5u : (uint)random.Next(),
                    Length = random.Next(3) == 0 ? (uint)random.Next() : (uint)random.Next(0, 200),
                    Type = (ushort)(random.Next(8) == 0 ? 2 : 1),
                    Op = (VsockOp)random.Next(0, 9),
                    Flags = (uint)random.Next(0, 4),
                    BufferAllocation = (uint)random.Next(),
                    ForwardCount = (uint)random.Next(),
                };
                var raw = new byte[VsockHeader.Size];
                h.Write(raw);
                memory.Write(at, raw);
            }
        }
        var indirect = new byte[0x1000];
        for (int t = 0; t < indirect.Length; t += 16) WriteDescriptor(indirect.AsSpan(t), random, 16);
        memory.Write(IndirectArea, indirect);
        // Half the cases are a driver that means well (one-buffer chains of the right direction in the data area),
        // so the devices' own paths are reached; the other half are hostile throughout.
        bool hostile = random.Next(2) == 0;
        for (int index = 0; index < d.Queues.Length; index++)
        {
            var q = d.Queues[index];
            var table = new byte[16 * size];
            for (int i = 0; i < size; i++)
            {
                if (hostile) WriteDescriptor(table.AsSpan(16 * i), random, size);
                else WriteWellMeantDescriptor(table.AsSpan(16 * i), random, writable: index == 0 || kind == "vsock" && index == 2);
            }
            memory.Write(q.Descriptors, table);
            int published = random.Next(0, size + 1);
            for (int i = 0; i < published; i++) q.Publish((ushort)random.Next(0, hostile && random.Next(8) == 0 ? 65536 : size));
            if (hostile && random.Next(16) == 0) q.SetAvailIndex((ushort)random.Next(65536));
            q.SetUsedEvent((ushort)random.Next(0, 4));
        }

        d.Activate();
        for (int q = 0; q < d.Queues.Length; q++) device.QueueNotify(q);
        if (backend != null)
            for (int i = random.Next(0, 6); i > 0; i--)
            {
                var frame = new byte[random.Next(1, random.Next(2) == 0 ? 2000 : 70000)];
                random.NextBytes(frame);
                backend.Inject(frame);
            }
        Assert.True(device.Drain(), "the device did not finish (a hang)");
        Assert.True(d.Ram.CanaryIntact, "a device wrote outside guest RAM");
        var resets = d.Interrupt.Resets;
        Assert.True(resets.Count <= 1, $"NeedsReset more than once: {string.Join(" | ", resets)}");
        if (resets.Count == 1) Assert.DoesNotContain("internal error", resets[0]);
        return resets.Count == 1;
    }

    private static void WriteWellMeantDescriptor(Span<byte> d, Random random, bool writable)
    {
        BitConverter.TryWriteBytes(d, DataArea + (ulong)(256 * random.Next(0, (int)(DataBytes / 256) - 16)));
        BitConverter.TryWriteBytes(d[8..], (uint)random.Next(1, 4096));
        BitConverter.TryWriteBytes(d[12..], writable ? FakeQueue.FlagWrite : (ushort)0);
        BitConverter.TryWriteBytes(d[14..], (ushort)0);
    }

    private static void WriteDescriptor(Span<byte> d, Random random, int entries)
    {
        ulong address = random.Next(10) switch
        {
            0 => (ulong)random.NextInt64(),
            1 => GuestRam.HighBase + GuestRam.HighBytes - (ulong)random.Next(0, 64),
            2 => GuestRam.RamBytes - (ulong)random.Next(0, 64),
            3 => IndirectArea + (ulong)(16 * random.Next(0, 8)),
            _ => DataArea + (ulong)random.Next(0, (int)DataBytes),
        };
        uint length = random.Next(6) switch
        {
            0 => (uint)random.Next(),
            1 => 0,
            2 => (uint)(16 * random.Next(1, 5)),
            _ => (uint)random.Next(1, 4096),
        };
        ushort flags = (ushort)(random.Next(8) switch
        {
            0 => FakeQueue.FlagIndirect,
            1 or 2 => FakeQueue.FlagNext,
            3 or 4 => FakeQueue.FlagWrite,
            5 => FakeQueue.FlagWrite | FakeQueue.FlagNext,
            _ => 0,
        });
        BitConverter.TryWriteBytes(d, address);
        BitConverter.TryWriteBytes(d[8..], length);
        BitConverter.TryWriteBytes(d[12..], flags);
        BitConverter.TryWriteBytes(d[14..], (ushort)random.Next(0, entries + (random.Next(8) == 0 ? 4 : 0)));
    }
}
