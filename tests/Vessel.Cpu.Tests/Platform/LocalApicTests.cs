using Vessel.Cpu.Platform;
using Vessel.Devices.Platform;

namespace Vessel.Cpu.Tests.Platform;

public class LocalApicTests
{
    private readonly FakeTimeBase _time = new() { Nanoseconds = 1_000_000 };
    private readonly ApicBus _bus = new();
    private readonly List<int> _eois = [];
    private readonly FakeExtInt _pic = new();

    private (LocalApic Apic, FakeApicHost Host) NewApic(int id)
    {
        var host = new FakeApicHost(id, _time);
        var apic = new LocalApic(host, _bus, _time, _pic);
        _bus.Attach(apic);
        _bus.EoiBroadcast = _eois.Add;
        apic.WriteRegister(0xF0, 0x1FF); // software enable, spurious vector 0xFF
        return (apic, host);
    }

    private static void Fixed(LocalApic apic, int vector, bool level = false) =>
        apic.Accept(new InterruptMessage((byte)vector, DeliveryMode.Fixed, false, apic.Id, level));

    [Fact]
    public void Identification_registers()
    {
        var (apic, _) = NewApic(3);
        Assert.Equal(3u << 24, apic.ReadRegister(0x20));
        Assert.Equal(0x0005_0014u, apic.ReadRegister(0x30));
        Assert.Equal(0x1FFu, apic.ReadRegister(0xF0));
    }

    [Fact]
    public void Highest_priority_class_wins_and_in_service_blocks_equal_or_lower_classes()
    {
        var (apic, _) = NewApic(0);
        Fixed(apic, 0x31);
        Fixed(apic, 0x52);
        Assert.True(apic.HasPendingEvent);
        Assert.Equal(0x52, apic.AcknowledgeInterrupt());
        Assert.Equal(0x50u, apic.ReadRegister(0xA0)); // PPR follows the in-service vector
        Fixed(apic, 0x5A);
        Assert.Equal(-1, apic.AcknowledgeInterrupt()); // same class as in service
        Assert.False(apic.HasPendingEvent);
        Fixed(apic, 0x61);
        Assert.Equal(0x61, apic.AcknowledgeInterrupt());
        apic.WriteRegister(0xB0, 0); // EOI 0x61
        apic.WriteRegister(0xB0, 0); // EOI 0x52
        Assert.Equal(0x5A, apic.AcknowledgeInterrupt());
        apic.WriteRegister(0xB0, 0);
        Assert.Equal(0x31, apic.AcknowledgeInterrupt());
        Assert.Equal(1u << (0x31 - 0x20), apic.ReadRegister(0x110)); // ISR bits 32-63
    }

    [Fact]
    public void Task_priority_masks_lower_classes()
    {
        var (apic, _) = NewApic(0);
        apic.WriteRegister(0x80, 0x60);
        Fixed(apic, 0x55);
        Assert.False(apic.HasPendingEvent);
        Assert.Equal(1u << (0x55 - 0x40), apic.ReadRegister(0x220));
        apic.WriteRegister(0x80, 0x40);
        Assert.True(apic.HasPendingEvent);
        Assert.Equal(0x55, apic.AcknowledgeInterrupt());
    }

    [Fact]
    public void Eoi_of_a_level_triggered_vector_is_broadcast_and_an_edge_one_is_not()
    {
        var (apic, _) = NewApic(0);
        Fixed(apic, 0x45, level: true);
        Assert.Equal(1u << 5, apic.ReadRegister(0x1A0)); // TMR
        Assert.Equal(0x45, apic.AcknowledgeInterrupt());
        apic.WriteRegister(0xB0, 0);
        Fixed(apic, 0x46);
        Assert.Equal(0x46, apic.AcknowledgeInterrupt());
        apic.WriteRegister(0xB0, 0);
        Assert.Equal([0x45], _eois);
    }

    [Fact]
    public void A_software_disabled_apic_drops_fixed_interrupts_but_takes_nmi()
    {
        var (apic, _) = NewApic(0);
        apic.WriteRegister(0xF0, 0xFF);
        Fixed(apic, 0x40);
        Assert.False(apic.HasPendingEvent);
        apic.Accept(new InterruptMessage(0, DeliveryMode.Nmi, false, 0, false));
        Assert.True(apic.HasPendingEvent);
        Assert.True(apic.TakeNmi());
        Assert.False(apic.TakeNmi());
    }

    [Fact]
    public void One_shot_timer_counts_down_and_fires_once()
    {
        var (apic, host) = NewApic(0);
        apic.WriteRegister(0x3E0, 0xB);   // divide by 1: 40 ns per tick
        apic.WriteRegister(0x320, 0x40);  // one-shot, vector 0x40
        apic.WriteRegister(0x380, 100);
        Assert.True(host.TimerPollRequests > 0);
        long deadline = apic.Poll(_time.Nanoseconds);
        Assert.Equal(_time.Nanoseconds + 4000, deadline);
        _time.Nanoseconds += 1000;
        Assert.Equal(75u, apic.ReadRegister(0x390));
        _time.Nanoseconds += 2999;
        apic.Poll(_time.Nanoseconds);
        Assert.False(apic.HasPendingEvent);
        _time.Nanoseconds += 1;
        Assert.Equal(long.MaxValue, apic.Poll(_time.Nanoseconds));
        Assert.True(apic.HasPendingEvent);
        Assert.Equal(0x40, apic.AcknowledgeInterrupt());
        Assert.Equal(0u, apic.ReadRegister(0x390));
    }

    [Fact]
    public void Periodic_timer_rearms_with_the_divider()
    {
        var (apic, _) = NewApic(0);
        apic.WriteRegister(0x3E0, 0x0);          // divide by 2: 80 ns per tick
        apic.WriteRegister(0x320, 0x20000 | 0x41);
        apic.WriteRegister(0x380, 10);           // 800 ns period
        long start = _time.Nanoseconds;
        for (int i = 1; i <= 3; i++)
        {
            _time.Nanoseconds = start + i * 800;
            Assert.Equal(start + (i + 1) * 800, apic.Poll(_time.Nanoseconds));
            Assert.Equal(0x41, apic.AcknowledgeInterrupt());
            apic.WriteRegister(0xB0, 0);
        }
        _time.Nanoseconds = start + 4 * 800 + 400;
        Assert.Equal(5u, apic.ReadRegister(0x390) + 0); // halfway through the period
    }

    [Fact]
    public void Masked_timer_expires_without_an_interrupt()
    {
        var (apic, _) = NewApic(0);
        apic.WriteRegister(0x3E0, 0xB);
        apic.WriteRegister(0x320, 0x10040);
        apic.WriteRegister(0x380, 1);
        _time.Nanoseconds += 40;
        Assert.Equal(long.MaxValue, apic.Poll(_time.Nanoseconds));
        Assert.False(apic.HasPendingEvent);
    }

    [Fact]
    public void Tsc_deadline_timer_fires_at_the_deadline_and_clears_it()
    {
        var (apic, host) = NewApic(0);
        host.TscOffset = 5_000_000;
        apic.WriteRegister(0x320, 0x40000 | 0x42);
        ulong tsc = host.ReadTsc();
        apic.WriteTscDeadline(tsc + 500);
        Assert.Equal(tsc + 500, apic.ReadTscDeadline());
        Assert.Equal(_time.Nanoseconds + 500, apic.Poll(_time.Nanoseconds));
        apic.WriteRegister(0x380, 100); // initial count is ignored in TSC-deadline mode
        Assert.Equal(0u, apic.ReadRegister(0x380));
        _time.Nanoseconds += 500;
        apic.Poll(_time.Nanoseconds);
        Assert.Equal(0x42, apic.AcknowledgeInterrupt());
        Assert.Equal(0ul, apic.ReadTscDeadline());
    }

    [Fact]
    public void A_deadline_in_the_past_fires_at_the_next_poll()
    {
        var (apic, host) = NewApic(0);
        apic.WriteRegister(0x320, 0x40000 | 0x43);
        apic.WriteTscDeadline(host.ReadTsc() - 10);
        apic.Poll(_time.Nanoseconds);
        Assert.Equal(0x43, apic.AcknowledgeInterrupt());
    }

    [Fact]
    public void Pic_interrupts_come_through_lint0_in_extint_mode_only()
    {
        var (bsp, host) = NewApic(0);
        bsp.SetPicOutput(true);
        Assert.True(bsp.HasPendingEvent);
        Assert.True(host.Wakes > 0);
        Assert.Equal(0x20, bsp.AcknowledgeInterrupt());
        Assert.Equal(1, _pic.Acknowledged);

        bsp.WriteRegister(0x350, 0x10700); // LINT0 masked
        Assert.False(bsp.HasPendingEvent);
        host.ApicBaseValue &= ~(1UL << 11); // hardware-disabled APIC: the PIC goes straight to the CPU
        bsp.SetPicOutput(true);
        Assert.True(bsp.HasPendingEvent);

        var (ap, _) = NewApic(1);
        ap.SetPicOutput(true);
        Assert.False(ap.HasPendingEvent); // an AP's LINT0 starts masked
    }

    [Fact]
    public void X2apic_msrs_mirror_the_registers()
    {
        var (apic, host) = NewApic(5);
        Assert.False(apic.TryReadMsr(0x802, out _)); // not in x2APIC mode yet
        host.ApicBaseValue |= 1UL << 10;
        Assert.True(apic.TryReadMsr(0x802, out ulong id));
        Assert.Equal(5ul, id);
        Assert.True(apic.TryReadMsr(0x80D, out ulong ldr));
        Assert.Equal((0ul << 16) | (1ul << 5), ldr);
        Assert.False(apic.TryWriteMsr(0x80D, 0)); // LDR is read-only
        Assert.False(apic.TryReadMsr(0x80E, out _)); // no DFR
        Assert.True(apic.TryWriteMsr(0x83F, 0x66)); // SELF IPI
        Assert.Equal(0x66, apic.AcknowledgeInterrupt());
        Assert.False(apic.TryWriteMsr(0x80B, 1)); // EOI must be written with 0
        Assert.True(apic.TryWriteMsr(0x80B, 0));
        Assert.Equal(0u, apic.ReadRegister(0x160));
    }

    [Fact]
    public void Illegal_vectors_are_reported_in_esr_and_raise_the_error_lvt()
    {
        var (sender, _) = NewApic(0);
        var (receiver, _) = NewApic(1);
        sender.WriteRegister(0x370, 0xE0); // LVT error: vector 0xE0
        sender.WriteRegister(0x310, 1u << 24);
        sender.WriteRegister(0x300, 0x4005); // fixed vector 5: illegal
        Assert.Equal(0u, sender.ReadRegister(0x280)); // latched by the next ESR write
        sender.WriteRegister(0x280, 0);
        Assert.Equal(0x20u, sender.ReadRegister(0x280));
        Assert.Equal(0xE0, sender.AcknowledgeInterrupt());
        Assert.False(receiver.HasPendingEvent);

        Fixed(receiver, 3);
        receiver.WriteRegister(0x280, 0);
        Assert.Equal(0x40u, receiver.ReadRegister(0x280));
        Assert.Equal(-1, receiver.AcknowledgeInterrupt()); // its LVT error is masked
        receiver.WriteRegister(0x280, 0);
        Assert.Equal(0u, receiver.ReadRegister(0x280));
    }
}
