using Vessel.Devices.Platform;

namespace Vessel.Devices.Tests.Platform;

public class IoApicTests
{
    private readonly List<ApicMessage> _messages = [];
    private readonly IoApic _ioApic;

    public IoApicTests() => _ioApic = new IoApic(_messages.Add, id: 2);

    private uint ReadRegister(uint index)
    {
        _ioApic.Write(0x00, index);
        return _ioApic.Read(0x10);
    }

    private void WriteRegister(uint index, uint value)
    {
        _ioApic.Write(0x00, index);
        _ioApic.Write(0x10, value);
    }

    private void Route(int pin, uint low, byte destination = 0)
    {
        WriteRegister((uint)(0x11 + 2 * pin), (uint)destination << 24);
        WriteRegister((uint)(0x10 + 2 * pin), low);
    }

    [Fact]
    public void Identification_registers()
    {
        Assert.Equal(2u << 24, ReadRegister(0));
        Assert.Equal(0x0017_0011u, ReadRegister(1));
        Assert.Equal(2u << 24, ReadRegister(2));
        WriteRegister(0, 5u << 24);
        Assert.Equal(5u << 24, ReadRegister(0));
    }

    [Fact]
    public void Pins_start_masked_and_deliver_nothing()
    {
        Assert.Equal(0x0001_0000u, ReadRegister(0x10));
        _ioApic.SetIrq(4, true);
        Assert.Empty(_messages);
    }

    [Fact]
    public void Edge_pin_delivers_once_per_rising_edge_with_its_routing()
    {
        Route(2, 0x0000_0830, destination: 3); // vector 0x30, logical, fixed, edge
        _ioApic.SetIrq(2, true);
        _ioApic.SetIrq(2, true);
        _ioApic.SetIrq(2, false);
        _ioApic.SetIrq(2, true);
        Assert.Equal(2, _messages.Count);
        Assert.Equal(new ApicMessage(0x30, 0, true, 3, false), _messages[0]);
        Assert.Equal(3u << 24, ReadRegister(0x15));
    }

    [Fact]
    public void Level_pin_sets_remote_irr_until_eoi_and_redelivers_if_still_high()
    {
        Route(10, 0x0000_8041); // vector 0x41, level, physical
        _ioApic.SetIrq(10, true);
        Assert.Single(_messages);
        Assert.NotEqual(0u, ReadRegister(0x10 + 20) & (1 << 14));
        _ioApic.SetIrq(10, true);
        Assert.Single(_messages);
        _ioApic.EndOfInterrupt(0x41);
        Assert.Equal(2, _messages.Count); // still asserted
        _ioApic.SetIrq(10, false);
        _ioApic.EndOfInterrupt(0x41);
        Assert.Equal(0u, ReadRegister(0x10 + 20) & (1 << 14));
        Assert.Equal(2, _messages.Count);
        Assert.True(_messages[1].LevelTriggered);
    }

    [Fact]
    public void Unmasking_an_asserted_level_pin_delivers_it()
    {
        Route(9, 0x0001_8050);
        _ioApic.SetIrq(9, true);
        Assert.Empty(_messages);
        WriteRegister(0x10 + 18, 0x0000_8050);
        Assert.Single(_messages);
    }

    [Fact]
    public void Delivery_modes_pass_through()
    {
        Route(0, 0x0000_0700); // ExtINT
        Route(1, 0x0000_0400); // NMI
        _ioApic.SetIrq(0, true);
        _ioApic.SetIrq(1, true);
        Assert.Equal(7, _messages[0].DeliveryMode);
        Assert.Equal(4, _messages[1].DeliveryMode);
    }

    [Fact]
    public void Remote_irr_and_delivery_status_are_read_only()
    {
        WriteRegister(0x10, 0x0000_5000 | 0x30);
        Assert.Equal(0x30u, ReadRegister(0x10));
    }
}
