using Vessel.Cpu.Platform;
using Vessel.Devices.Platform;

namespace Vessel.Cpu.Tests.Platform;

public class ApicBusTests
{
    private readonly FakeTimeBase _time = new();
    private readonly ApicBus _bus = new();
    private readonly List<(LocalApic Apic, FakeApicHost Host)> _cpus = [];

    public ApicBusTests()
    {
        for (int id = 0; id < 4; id++)
        {
            var host = new FakeApicHost(id, _time);
            var apic = new LocalApic(host, _bus, _time, null);
            apic.WriteRegister(0xF0, 0x1FF);
            _bus.Attach(apic);
            _cpus.Add((apic, host));
        }
    }

    private LocalApic Apic(int id) => _cpus[id].Apic;

    private void SendIpi(int from, uint low, uint destination)
    {
        Apic(from).WriteRegister(0x310, destination << 24);
        Apic(from).WriteRegister(0x300, low);
    }

    private int[] Receivers(int vector)
    {
        var receivers = new List<int>();
        for (int i = 0; i < _cpus.Count; i++)
            if (Apic(i).AcknowledgeInterrupt() == vector)
            {
                receivers.Add(i);
                Apic(i).WriteRegister(0xB0, 0);
            }
        return [.. receivers];
    }

    [Fact]
    public void Fixed_physical_ipi_reaches_only_its_destination()
    {
        SendIpi(0, 0x0000_4050, 2);
        Assert.Equal([2], Receivers(0x50));
        Assert.Equal(0u, Apic(0).ReadRegister(0x300) & (1 << 12)); // delivered: idle
    }

    [Fact]
    public void Physical_broadcast_and_shorthands()
    {
        SendIpi(0, 0x0000_4051, 0xFF);
        Assert.Equal([0, 1, 2, 3], Receivers(0x51));
        SendIpi(1, 0x0004_4052, 0);      // self
        Assert.Equal([1], Receivers(0x52));
        SendIpi(1, 0x0008_4053, 0);      // all including self
        Assert.Equal([0, 1, 2, 3], Receivers(0x53));
        SendIpi(1, 0x000C_4054, 0);      // all excluding self
        Assert.Equal([0, 2, 3], Receivers(0x54));
    }

    [Fact]
    public void Logical_flat_and_cluster_destinations()
    {
        for (int i = 0; i < 4; i++) Apic(i).WriteRegister(0xD0, (1u << i) << 24);
        SendIpi(0, 0x0000_4860, 0b1010);
        Assert.Equal([1, 3], Receivers(0x60));

        for (int i = 0; i < 4; i++)
        {
            Apic(i).WriteRegister(0xE0, 0x0FFF_FFFF); // cluster model
            Apic(i).WriteRegister(0xD0, (uint)(((i / 2) << 4) | (1 << (i % 2))) << 24);
        }
        SendIpi(0, 0x0000_4861, 0x13); // cluster 1, members 0 and 1
        Assert.Equal([2, 3], Receivers(0x61));
    }

    [Fact]
    public void Lowest_priority_picks_one_apic_with_the_lowest_task_priority()
    {
        Apic(0).WriteRegister(0x80, 0x30);
        Apic(1).WriteRegister(0x80, 0x20);
        Apic(2).WriteRegister(0x80, 0x10);
        Apic(3).WriteRegister(0x80, 0x40);
        SendIpi(0, 0x0000_4170, 0xFF);
        Assert.Equal(2, Apic(2).AcknowledgeInterrupt() == 0x70 ? 2 : -1);
        Assert.Equal(-1, Apic(1).AcknowledgeInterrupt());
    }

    [Fact]
    public void Init_and_startup_ipis_reach_the_vcpu()
    {
        SendIpi(0, 0x0000_C500, 0);   // INIT assert, level
        SendIpi(0, 0x0000_8500, 0);   // INIT de-assert: no effect
        SendIpi(0, 0x000C_4608, 0);   // SIPI vector 8 to all but self
        Assert.Equal(1, _cpus[0].Host.Inits);
        Assert.Equal(0, _cpus[1].Host.Inits);
        Assert.Equal([8], _cpus[1].Host.Sipis);
        Assert.Equal([8], _cpus[3].Host.Sipis);
        Assert.Empty(_cpus[0].Host.Sipis);
    }

    [Fact]
    public void Nmi_ipi()
    {
        SendIpi(2, 0x0000_4400, 1);
        Assert.True(Apic(1).TakeNmi());
        Assert.False(Apic(0).TakeNmi());
    }

    [Fact]
    public void X2apic_icr_is_one_64_bit_msr_with_a_32_bit_destination()
    {
        foreach (var (_, host) in _cpus) host.ApicBaseValue |= 1UL << 10;
        Assert.True(Apic(0).TryWriteMsr(0x830, (3UL << 32) | 0x4077));
        Assert.Equal([3], Receivers(0x77));
        Assert.True(Apic(0).TryWriteMsr(0x830, (0xFFFF_FFFFUL << 32) | 0x4078));
        Assert.Equal([0, 1, 2, 3], Receivers(0x78));
        // x2APIC logical: cluster 0, bits for ids 1 and 2
        Assert.True(Apic(0).TryWriteMsr(0x830, (0x0006UL << 32) | 0x4879));
        Assert.Equal([1, 2], Receivers(0x79));
    }

    [Fact]
    public void Msi_messages_route_like_ioapic_ones()
    {
        _bus.Deliver(InterruptMessage.FromMsi(0xFEE0_1000, 0x41));
        Assert.Equal([1], Receivers(0x41));
    }
}
