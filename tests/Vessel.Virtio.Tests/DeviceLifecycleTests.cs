using Vessel.Virtio.Entropy;

namespace Vessel.Virtio.Tests;

public sealed class DeviceLifecycleTests
{
    [Fact]
    public void A_queue_layout_outside_ram_fails_activation_with_one_needs_reset()
    {
        using var d = new FakeDriver(new VirtioRng());
        d.Activate(new VirtioQueueConfig(16, GuestRam.RamBytes - 64, 0x1_4000, 0x1_8000));
        Assert.Contains("outside guest RAM", Assert.Single(d.Interrupt.Resets));
        d.Queues[0].AddChain(Buf.W(d.Ram.Alloc(8), 8));
        d.Kick();
        Assert.Equal(0, d.Queues[0].UsedIndex);
        Assert.Single(d.Interrupt.Resets);
    }

    [Fact]
    public void Kicks_before_activation_or_for_queues_that_do_not_exist_are_ignored()
    {
        using var d = new FakeDriver(new VirtioRng());
        d.Device.QueueNotify(0);
        d.Device.QueueNotify(-1);
        d.Device.QueueNotify(5);
        d.Device.QueueNotify(int.MaxValue);
        d.Activate();
        d.Device.QueueNotify(7);
        d.Queues[0].AddChain(Buf.W(d.Ram.Alloc(8), 8));
        d.Kick();
        Assert.Equal(1, d.Queues[0].UsedIndex);
        Assert.Empty(d.Interrupt.Resets);
    }

    [Fact]
    public void Reset_while_the_driver_kicks_stops_the_device_touching_the_rings()
    {
        using var d = new FakeDriver(new VirtioRng(), queueSize: 64);
        d.Activate();
        var q = d.Queues[0];
        ulong buffer = d.Ram.Alloc(64);
        bool stop = false;
        var kicker = new Thread(() =>
        {
            while (!Volatile.Read(ref stop))
                d.Device.QueueNotify(0);
        });
        kicker.Start();
        for (int i = 0; i < 2000; i++)
        {
            q.AddChain(Buf.W(buffer, 64));
            while (q.TryTakeUsed(out _, out _)) { }
            if (i % 64 == 63)
                Thread.Yield();
            if ((ushort)(q.AvailIndex - q.UsedIndex) >= 60)
                break;
        }
        d.Device.Reset();
        ushort used = q.UsedIndex;
        ushort availEvent = q.AvailEvent;
        for (int i = 0; i < 3; i++)
            q.AddChain(Buf.W(buffer, 64));
        Thread.Sleep(50);
        Volatile.Write(ref stop, true);
        kicker.Join();
        Assert.Equal(used, q.UsedIndex);
        Assert.Equal(availEvent, q.AvailEvent);
        Assert.Empty(d.Interrupt.Resets);
        Assert.False(((Devices.QueuedVirtioDevice)d.Device).IsActive);
    }
}
