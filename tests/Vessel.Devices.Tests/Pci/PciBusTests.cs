using Vessel.Devices.Pci;

namespace Vessel.Devices.Tests.Pci;

public sealed class PciBusTests
{
    private const ulong WindowBase = 0xC000_0000, WindowSize = 0x3EC0_0000;

    private static (PciBus Bus, PciTestFunction Function) BusWithFunction(int slot = 1)
    {
        var bus = new PciBus(WindowBase, WindowSize);
        bus.Attach(0, new PciHostBridge());
        var function = new PciTestFunction();
        bus.Attach(slot, function);
        return (bus, function);
    }

    [Fact]
    public void AddressRegisterReadsBackWhatADwordWriteLatched()
    {
        var bus = new PciBus(WindowBase, WindowSize);
        bus.ConfigPorts.Write(3, 1, 0x01); // Linux's type-2 probe byte: not a latch
        bus.ConfigPorts.Write(0, 4, 0x8000_0000);
        Assert.Equal(0x8000_0000u, bus.ConfigPorts.Read(0, 4));
        bus.ConfigPorts.Write(0, 4, 0x8000_0803);
        Assert.Equal(0x8000_0800u, bus.ConfigPorts.Read(0, 4)); // the two low bits are not an address
    }

    [Fact]
    public void HostBridgeIsAtZeroWithTheHostBridgeClass()
    {
        var (bus, _) = BusWithFunction();
        Assert.Equal(0x0008_1B36u, ConfigAccess.Read(bus, 0, 0x00, 4));
        Assert.Equal(0x0600_0000u, ConfigAccess.Read(bus, 0, 0x08, 4) & 0xFFFF_FF00);
    }

    [Theory]
    [InlineData(0x00, 1, 0xF4u)]
    [InlineData(0x01, 1, 0x1Au)]
    [InlineData(0x02, 2, 0x1042u)]
    [InlineData(0x03, 1, 0x10u)]
    [InlineData(0x0A, 2, 0x0180u)]
    [InlineData(0x3D, 1, 0x01u)]
    public void ByteAndWordReadsAtAnyOffsetWithinTheDword(int offset, int size, uint expected)
    {
        var (bus, _) = BusWithFunction();
        Assert.Equal(expected, ConfigAccess.Read(bus, 1, offset, size));
    }

    [Fact]
    public void AbsentSlotsFunctionsAndBusesReadAllOnes()
    {
        var (bus, _) = BusWithFunction();
        Assert.Equal(0xFFFF_FFFFu, ConfigAccess.Read(bus, 7, 0, 4));
        bus.ConfigPorts.Write(0, 4, 0x8000_0900); // slot 1, function 1
        Assert.Equal(0xFFFFu, bus.ConfigPorts.Read(4, 2));
        bus.ConfigPorts.Write(0, 4, 0x8001_0800); // bus 1
        Assert.Equal(0xFFu, bus.ConfigPorts.Read(4, 1));
        bus.ConfigPorts.Write(0, 4, 0x0000_0800); // enable bit clear
        Assert.Equal(0xFFFF_FFFFu, bus.ConfigPorts.Read(4, 4));
    }

    [Fact]
    public void ReadOnlyRegistersIgnoreWritesAndInterruptLineKeepsThem()
    {
        var (bus, _) = BusWithFunction();
        ConfigAccess.Write(bus, 1, 0x00, 4, 0x1234_5678);
        ConfigAccess.Write(bus, 1, 0x3C, 1, 0x0B);
        ConfigAccess.Write(bus, 1, 0x3D, 1, 0x04);
        Assert.Equal(0x1042_1AF4u, ConfigAccess.Read(bus, 1, 0, 4));
        Assert.Equal(0x010Bu, ConfigAccess.Read(bus, 1, 0x3C, 2));
    }

    [Fact]
    public void ThirtyTwoBitBarSizesAsLinuxProbesIt()
    {
        var (bus, _) = BusWithFunction();
        uint original = ConfigAccess.Read(bus, 1, 0x10, 4);
        ConfigAccess.Write(bus, 1, 0x10, 4, 0xFFFF_FFFF);
        uint mask = ConfigAccess.Read(bus, 1, 0x10, 4);
        ConfigAccess.Write(bus, 1, 0x10, 4, original);
        Assert.Equal(0xFFFF_F000u, mask); // 4 KiB, 32-bit, not prefetchable
        Assert.Equal(0x1000u, ~(mask & ~0xFu) + 1);
        Assert.Equal(original, ConfigAccess.Read(bus, 1, 0x10, 4));
        Assert.Equal(WindowBase, original);
    }

    [Fact]
    public void SixtyFourBitBarSizesAcrossBothDwords()
    {
        var (bus, _) = BusWithFunction();
        ConfigAccess.Write(bus, 1, 0x18, 4, 0xFFFF_FFFF);
        ConfigAccess.Write(bus, 1, 0x1C, 4, 0xFFFF_FFFF);
        uint low = ConfigAccess.Read(bus, 1, 0x18, 4), high = ConfigAccess.Read(bus, 1, 0x1C, 4);
        Assert.Equal(0x4u, low & 0xF); // memory, 64-bit
        ulong size = ~((ulong)high << 32 | (low & ~0xFu)) + 1;
        Assert.Equal(0x4000UL, size);
    }

    [Fact]
    public void BarsArePreassignedAlignedInTheWindowWithDecodeOn()
    {
        var (bus, function) = BusWithFunction();
        Assert.Equal(WindowBase, function.Config.BarAddress(0));
        Assert.Equal(WindowBase + 0x4000, function.Config.BarAddress(2)); // 16 KiB aligned after the 4 KiB BAR
        Assert.True(function.Config.MemoryDecode);
        Assert.Contains((2, (ulong?)(WindowBase + 0x4000)), function.Mapped);
    }

    [Fact]
    public void WindowFollowsAMovedBarAndTheDecodeBit()
    {
        var (bus, function) = BusWithFunction();
        function.Registers[0x10] = 0x5A;
        ulong bar2 = function.Config.BarAddress(2);
        Assert.Equal(0x5AUL, bus.Window.Read(bar2 - WindowBase + 0x10, 1) & 0xFF);

        ConfigAccess.Write(bus, 1, 0x04, 2, 0); // decode off
        Assert.Equal(ulong.MaxValue, bus.Window.Read(bar2 - WindowBase + 0x10, 1));
        Assert.Equal((2, (ulong?)null), function.Mapped[^1]);

        const ulong moved = WindowBase + 0x100_0000;
        ConfigAccess.Write(bus, 1, 0x18, 4, (uint)moved);
        ConfigAccess.Write(bus, 1, 0x1C, 4, 0);
        ConfigAccess.Write(bus, 1, 0x04, 2, PciConfigSpace.CommandMemorySpace);
        Assert.Equal(0x5AUL, bus.Window.Read(moved - WindowBase + 0x10, 1) & 0xFF);
        Assert.Equal(ulong.MaxValue, bus.Window.Read(bar2 - WindowBase + 0x10, 1));
        Assert.Equal((2, (ulong?)moved), function.Mapped[^1]);
    }

    [Fact]
    public void ABarMovedOutOfTheWindowDecodesNothing()
    {
        var (bus, function) = BusWithFunction();
        ConfigAccess.Write(bus, 1, 0x10, 4, 0x1000_0000); // into RAM, below the window
        Assert.Equal((0, (ulong?)null), function.Mapped[^1]);
    }

    [Fact]
    public void CapabilityListWalksFromThePointerToTheEnd()
    {
        var (bus, function) = BusWithFunction();
        Assert.NotEqual(0u, ConfigAccess.Read(bus, 1, PciConfigSpace.Status, 2) & PciConfigSpace.StatusCapabilitiesList);
        function.Config.AddCapability(0x09, [0x10, 1, 2, 3]);
        var ids = new List<uint>();
        uint next = ConfigAccess.Read(bus, 1, PciConfigSpace.CapabilitiesPointer, 1);
        while (next != 0 && ids.Count < 48)
        {
            Assert.Equal(0u, next & 3);
            ids.Add(ConfigAccess.Read(bus, 1, (int)next, 1));
            next = ConfigAccess.Read(bus, 1, (int)next + 1, 1);
        }
        Assert.Equal([0x11u, 0x09u], ids);
    }

    [Fact]
    public void ConfigSpaceRefusesOverflowingCapabilities()
    {
        var config = new PciConfigSpace(1, 2, 0);
        Assert.Throws<InvalidOperationException>(() =>
        {
            for (int i = 0; i < 20; i++) config.AddCapability(0x09, new byte[14]);
        });
    }

    [Fact]
    public void AttachRefusesATakenSlotAndAFullWindow()
    {
        var bus = new PciBus(WindowBase, 0x2000);
        bus.Attach(1, new PciHostBridge());
        Assert.Throws<InvalidOperationException>(() => bus.Attach(1, new PciHostBridge()));
        Assert.Throws<InvalidOperationException>(() => bus.Attach(2, new PciTestFunction()));
    }
}
