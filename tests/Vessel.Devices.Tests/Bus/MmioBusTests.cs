using Vessel.Devices.Bus;

namespace Vessel.Devices.Tests.Bus;

public class MmioBusTests
{
    [Theory]
    [InlineData(0xfec0_0000UL, 0x1000UL)]
    [InlineData(0xfebf_f000UL, 0x1001UL)]
    [InlineData(0xfec0_0fffUL, 0x10UL)]
    [InlineData(0xfe00_0000UL, 0x0100_0000UL)]
    public void OverlappingRegistrationIsRefused(ulong address, ulong length)
    {
        var bus = new MmioBus();
        bus.Register(0xfec0_0000, 0x1000, new RecordingMmioDevice());
        Assert.Throws<BusRegistrationException>(() => bus.Register(address, length, new RecordingMmioDevice()));
    }

    [Fact]
    public void EmptyOrWrappingRangeIsRefused()
    {
        var bus = new MmioBus();
        Assert.Throws<BusRegistrationException>(() => bus.Register(0x1000, 0, new RecordingMmioDevice()));
        Assert.Throws<BusRegistrationException>(() => bus.Register(ulong.MaxValue - 0xfff, 0x2000, new RecordingMmioDevice()));
    }

    [Fact]
    public void RangeEndingAtTheTopOfTheAddressSpaceWorks()
    {
        var bus = new MmioBus();
        var device = new RecordingMmioDevice(5);
        bus.Register(ulong.MaxValue - 0xfff, 0x1000, device);
        Assert.Equal(5UL, bus.Read(ulong.MaxValue, 1));
        Assert.Equal(0xfffUL, device.Accesses[0].Offset);
    }

    [Fact]
    public void FindsTheRightDeviceAmongMany()
    {
        var bus = new MmioBus();
        var devices = new List<RecordingMmioDevice>();
        // Registered out of order on purpose.
        foreach (int i in new[] { 5, 1, 9, 3, 7, 0, 8, 2, 6, 4 })
        {
            while (devices.Count <= i) devices.Add(null!);
            devices[i] = new RecordingMmioDevice((ulong)i);
            bus.Register(0x1_0000_0000UL + (ulong)i * 0x10000, 0x1000, devices[i]);
        }
        for (int i = 0; i < 10; i++)
        {
            ulong address = 0x1_0000_0000UL + (ulong)i * 0x10000 + 0x18;
            Assert.Equal((ulong)i, bus.Read(address, 8));
            Assert.Equal(0x18UL, devices[i].Accesses[^1].Offset);
            Assert.Null(bus.DeviceAt(address + 0x1000 - 0x18));
        }
    }

    [Theory]
    [InlineData(1, 0xFFUL)]
    [InlineData(2, 0xFFFFUL)]
    [InlineData(4, 0xFFFF_FFFFUL)]
    [InlineData(8, ulong.MaxValue)]
    public void UnclaimedReadReturnsAllOnes(int size, ulong expected) =>
        Assert.Equal(expected, new MmioBus().Read(0xd000_0000, size));

    [Fact]
    public void WriteReachesTheDeviceAtItsOffset()
    {
        var bus = new MmioBus();
        var device = new RecordingMmioDevice();
        bus.Register(0xfee0_0000, 0x1000, device);
        bus.Write(0xfee0_00b0, 4, 0);
        bus.Write(0xfed0_0000, 4, 0); // unclaimed: dropped
        Assert.Equal([("w", 0xb0UL, 4, 0UL)], device.Accesses);
    }

    [Fact]
    public void UnclaimedAddressLoggingIsBounded()
    {
        var logger = new CapturingLogger();
        var bus = new MmioBus(logger: logger);
        for (ulong a = 0; a < MmioBus.MaxLoggedUnclaimed + 500; a++) bus.Read(a * 8, 8);
        bus.Read(0, 8);
        Assert.InRange(logger.Entries.Count, MmioBus.MaxLoggedUnclaimed, MmioBus.MaxLoggedUnclaimed + 2);
        Assert.Contains("no longer logging", logger.Entries[^1].Message);
    }
}
