using Microsoft.Extensions.Logging;
using Vessel.Devices.Bus;

namespace Vessel.Devices.Tests.Bus;

public class PortIoBusTests
{
    [Theory]
    [InlineData(0x3f8, 8)]   // identical
    [InlineData(0x3f0, 9)]   // ends inside
    [InlineData(0x3ff, 2)]   // starts inside
    [InlineData(0x3fa, 1)]   // contained
    [InlineData(0x300, 0x200)] // contains
    public void OverlappingRegistrationIsRefused(int basePort, int length)
    {
        var bus = new PortIoBus();
        bus.Register(0x3f8, 8, new RecordingPortDevice());
        var ex = Assert.Throws<BusRegistrationException>(() => bus.Register((ushort)basePort, length, new RecordingPortDevice()));
        Assert.Contains("overlap", ex.Message);
    }

    [Fact]
    public void AdjacentRangesAreAccepted()
    {
        var bus = new PortIoBus();
        var a = new RecordingPortDevice(1);
        var b = new RecordingPortDevice(2);
        bus.Register(0x3f8, 8, a);
        bus.Register(0x3f0, 8, b);
        bus.Register(0x400, 1, new RecordingPortDevice());
        Assert.Same(a, bus.DeviceAt(0x3ff));
        Assert.Same(b, bus.DeviceAt(0x3f7));
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(0xffff, 2)]
    public void EmptyOrOutOfSpaceRangeIsRefused(int basePort, int length) =>
        Assert.Throws<BusRegistrationException>(() => new PortIoBus().Register((ushort)basePort, length, new RecordingPortDevice()));

    [Fact]
    public void LastPortCanBeClaimed()
    {
        var bus = new PortIoBus();
        bus.Register(0xffff, 1, new RecordingPortDevice(7));
        Assert.Equal(7u, bus.Read(0xffff, 1));
    }

    [Fact]
    public void DeviceSeesOffsetsInsideItsRange()
    {
        var bus = new PortIoBus();
        var device = new RecordingPortDevice(0xAB);
        bus.Register(0x3f8, 8, device);
        bus.Write(0x3fb, 1, 0x80);
        Assert.Equal(0xABu, bus.Read(0x3fd, 1));
        Assert.Equal([("w", (ushort)3, 1, 0x80u), ("r", (ushort)5, 1, 0xABu)], device.Accesses);
    }

    [Theory]
    [InlineData(1, 0xFFu)]
    [InlineData(2, 0xFFFFu)]
    [InlineData(4, 0xFFFF_FFFFu)]
    public void UnclaimedReadReturnsAllOnesOfTheAccessSize(int size, uint expected) =>
        Assert.Equal(expected, new PortIoBus().Read(0x1234, size));

    [Fact]
    public void UnclaimedWriteIsDropped() => new PortIoBus().Write(0x80, 1, 0x12);

    [Fact]
    public void ReadsAndWritesAreMaskedToTheAccessSize()
    {
        var bus = new PortIoBus();
        var device = new RecordingPortDevice(0x1234_5678);
        bus.Register(0x60, 1, device);
        Assert.Equal(0x78u, bus.Read(0x60, 1));
        bus.Write(0x60, 2, 0xAAAA_BBBB);
        Assert.Equal(0xBBBBu, device.Accesses[^1].Value);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(8)]
    public void BadAccessSizeIsRejected(int size) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new PortIoBus().Read(0x60, size));

    [Fact]
    public void EachUnclaimedPortIsLoggedOnceAtDebugLevel()
    {
        var logger = new CapturingLogger();
        var bus = new PortIoBus(logger: logger);
        bus.Read(0x80, 1);
        bus.Write(0x80, 1, 0);
        bus.Read(0x80, 2);
        bus.Read(0x81, 1);
        Assert.Equal(2, logger.Entries.Count);
        Assert.All(logger.Entries, e => Assert.Equal(LogLevel.Debug, e.Level));
        Assert.Contains("0x0080", logger.Entries[0].Message);
        Assert.Contains("0x0081", logger.Entries[1].Message);
    }

    [Fact]
    public void CallsToOneDeviceAreSerialisedAcrossItsRangesAndBuses()
    {
        var locks = new DeviceLocks();
        var ports = new PortIoBus(locks);
        var mmio = new MmioBus(locks);
        var device = new ReentrancyDetector();
        ports.Register(0xe0, 4, device);
        ports.Register(0x2000, 4, device);
        mmio.Register(0xff00_0000, 0x1000, device);
        var threads = Enumerable.Range(0, 4).Select(i => new Thread(() =>
        {
            for (int n = 0; n < 20_000; n++)
            {
                switch (i % 3)
                {
                    case 0: ports.Write(0xe0, 1, 1); break;
                    case 1: ports.Read(0x2001, 1); break;
                    default: mmio.Write(0xff00_0010, 4, 1); break;
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.False(device.Overlapped);
        Assert.Equal(80_000, device.Calls);
    }

    [Fact]
    public void AConcurrentDeviceIsCalledWithoutItsLockOnBothBuses()
    {
        var locks = new DeviceLocks();
        var ports = new PortIoBus(locks);
        var mmio = new MmioBus(locks);
        var device = new RendezvousDevice();
        ports.Register(0x80, 1, device);
        mmio.Register(0xff00_0000, 0x1000, device);
        // Each call waits until the other is inside too: under a per-device lock neither would ever see that.
        var port = new Thread(() => ports.Write(0x80, 1, 0x12));
        var memory = new Thread(() => mmio.Write(0xff00_0000, 4, 0x34));
        port.Start();
        memory.Start();
        port.Join();
        memory.Join();
        Assert.Equal(2, device.MetInside);
    }

    [Fact]
    public void ThePostCodePortTakesNoLockAndStillRecordsTheLastCode()
    {
        var locks = new DeviceLocks();
        var post = new Vessel.Devices.PostCodePort();
        Assert.True(locks.For(post) is null);
        var ports = new PortIoBus(locks);
        ports.Register(0x80, 1, post);
        ports.Write(0x80, 2, 0x1234);
        Assert.Equal((byte)0x34, post.LastCode);
        Assert.Equal(0xffu, ports.Read(0x80, 1));
    }

    private sealed class RendezvousDevice : Vessel.Devices.IPortDevice, Vessel.Devices.IMmioDevice, Vessel.Devices.IConcurrentDevice
    {
        private int _inside;
        public int MetInside;

        private void Meet()
        {
            Interlocked.Increment(ref _inside);
            if (SpinWait.SpinUntil(() => Volatile.Read(ref _inside) == 2, TimeSpan.FromSeconds(10)))
                Interlocked.Increment(ref MetInside);
        }

        public uint Read(ushort offset, int size) { Meet(); return 0; }
        public void Write(ushort offset, int size, uint value) => Meet();
        public ulong Read(ulong offset, int size) { Meet(); return 0; }
        public void Write(ulong offset, int size, ulong value) => Meet();
    }

    private sealed class ReentrancyDetector : Vessel.Devices.IPortDevice, Vessel.Devices.IMmioDevice
    {
        private int _inside;
        public bool Overlapped;
        public int Calls;

        private void Enter()
        {
            if (Interlocked.Increment(ref _inside) != 1) Overlapped = true;
            Calls++; // unsynchronised on purpose: correct only if the bus serialises
            Thread.SpinWait(5);
            Interlocked.Decrement(ref _inside);
        }

        public uint Read(ushort offset, int size) { Enter(); return 0; }
        public void Write(ushort offset, int size, uint value) => Enter();
        public ulong Read(ulong offset, int size) { Enter(); return 0; }
        public void Write(ulong offset, int size, ulong value) => Enter();
    }
}
