using Vessel.Virtio.Block;

namespace Vessel.Virtio.Tests;

/// <summary>The driver runs on its own thread while the device's worker serves, as a vCPU and the worker do: it
/// kicks only when the device asked (avail_event with EVENT_IDX, every time without), so a kick the device misses
/// shows up as a hang, and a reordering of ring reads and writes as wrong data.</summary>
public sealed class ConcurrentDriverTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Thousands_of_reads_complete_in_any_interleaving(bool eventIndex)
    {
        const int Requests = 20000, Slots = 21, Sectors = 128;
        using var image = new TempImage(Sectors * 512, i => (byte)(i / 512 * 3 + i % 512));
        var device = new VirtioBlock(new VirtioBlockOptions(image.Path));
        ulong features = device.OfferedFeatures & (eventIndex ? ulong.MaxValue : ~VirtioFeatures.RingEventIndex);
        using var d = new FakeDriver(device, queueSize: 64, features: features);
        d.Activate();
        var q = d.Queues[0];
        var memory = d.Ram.Memory;
        var expected = image.ReadAll();

        ulong[] header = new ulong[Slots], data = new ulong[Slots], status = new ulong[Slots];
        int[] sectorOf = new int[Slots];
        var free = new Stack<int>(Enumerable.Range(0, Slots));
        for (int s = 0; s < Slots; s++)
            (header[s], data[s], status[s]) = (d.Ram.Alloc(16), d.Ram.Alloc(512), d.Ram.Alloc(1, 1));

        int submitted = 0, completed = 0, kicks = 0;
        var random = new Random(7);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (completed < Requests)
        {
            Assert.True(DateTime.UtcNow < deadline, $"stalled after {completed} of {Requests} (a lost kick?)");
            // Submit a random batch, then kick as the device asked.
            int batch = random.Next(1, 8);
            ushort oldIdx = q.AvailIndex;
            for (int b = 0; b < batch && free.Count > 0 && submitted < Requests; b++, submitted++)
            {
                int s = free.Pop();
                sectorOf[s] = random.Next(Sectors);
                memory.WriteUInt32(header[s], VirtioBlock.TypeIn);
                memory.WriteUInt64(header[s] + 8, (ulong)sectorOf[s]);
                memory.WriteByte(status[s], 0xFF);
                q.SetDescriptor(3 * s, header[s], 16, FakeQueue.FlagNext, (ushort)(3 * s + 1));
                q.SetDescriptor(3 * s + 1, data[s], 512, FakeQueue.FlagNext | FakeQueue.FlagWrite, (ushort)(3 * s + 2));
                q.SetDescriptor(3 * s + 2, status[s], 1, FakeQueue.FlagWrite, 0);
                q.Publish((ushort)(3 * s));
            }
            Interlocked.MemoryBarrier(); // the driver's mb between publishing idx and reading avail_event
            ushort newIdx = q.AvailIndex;
            if (newIdx != oldIdx && (!eventIndex || (ushort)(newIdx - q.AvailEvent - 1) < (ushort)(newIdx - oldIdx)))
            {
                d.Device.QueueNotify(0);
                kicks++;
            }
            while (q.TryTakeUsed(out uint id, out uint length))
            {
                int s = (int)id / 3;
                Assert.Equal(513u, length);
                Assert.Equal(VirtioBlock.StatusOk, memory.ReadByte(status[s]));
                Assert.Equal(expected.AsSpan(sectorOf[s] * 512, 512).ToArray(), d.Ram.Read(data[s], 512));
                free.Push(s);
                completed++;
            }
            if (free.Count == 0)
                Thread.Yield();
        }
        Assert.Empty(d.Interrupt.Resets);
        if (eventIndex)
            Assert.True(kicks < Requests, $"{kicks} kicks for {Requests} requests: event-idx suppressed none");
    }
}
