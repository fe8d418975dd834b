using Vessel.Devices.Platform;

namespace Vessel.Devices.Tests.Platform;

public class DualPicTests
{
    private readonly DualPic _pic = new();

    public DualPicTests()
    {
        Initialise(slave: false, vectorBase: 0x08, cascade: 0x04, icw4: 0x01);
        Initialise(slave: true, vectorBase: 0x70, cascade: 0x02, icw4: 0x01);
    }

    private void Initialise(bool slave, byte vectorBase, byte cascade, byte icw4)
    {
        _pic.Write((ushort)((slave ? 0xA0 : 0x20) + 0), 0x11);
        _pic.Write((ushort)((slave ? 0xA0 : 0x20) + 1), vectorBase);
        _pic.Write((ushort)((slave ? 0xA0 : 0x20) + 1), cascade);
        _pic.Write((ushort)((slave ? 0xA0 : 0x20) + 1), icw4);
        _pic.Write((ushort)((slave ? 0xA0 : 0x20) + 1), 0x00);
    }

    private void NonSpecificEoi(bool slave) => _pic.Write((ushort)(slave ? 0xA0 : 0x20), 0x20);

    [Fact]
    public void An_edge_on_irq0_raises_intr_and_acknowledge_returns_its_vector()
    {
        _pic.SetIrq(0, true);
        Assert.True(_pic.InterruptRequested);
        Assert.Equal(0x08, _pic.Acknowledge());
        Assert.False(_pic.InterruptRequested);
        _pic.Write(0x20, 0x0B); // OCW3: read ISR
        Assert.Equal(0x01, _pic.Read(0x20));
    }

    [Fact]
    public void Lower_irq_numbers_win_and_in_service_blocks_lower_priorities_until_eoi()
    {
        _pic.SetIrq(4, true);
        _pic.SetIrq(1, true);
        Assert.Equal(0x09, _pic.Acknowledge());
        Assert.False(_pic.InterruptRequested); // IRQ 4 waits behind IRQ 1 in service
        NonSpecificEoi(false);
        Assert.True(_pic.InterruptRequested);
        Assert.Equal(0x0C, _pic.Acknowledge());
    }

    [Fact]
    public void Masked_irqs_stay_in_irr_without_raising_intr()
    {
        _pic.Write(0x21, 0x08);
        _pic.SetIrq(3, true);
        Assert.False(_pic.InterruptRequested);
        _pic.Write(0x20, 0x0A); // read IRR
        Assert.Equal(0x08, _pic.Read(0x20));
        Assert.Equal(0x08, _pic.Read(0x21));
        _pic.Write(0x21, 0x00);
        Assert.True(_pic.InterruptRequested);
    }

    [Fact]
    public void Slave_irqs_cascade_through_irq2_and_need_eoi_on_both_chips()
    {
        _pic.SetIrq(12, true);
        Assert.True(_pic.InterruptRequested);
        Assert.Equal(0x74, _pic.Acknowledge());
        _pic.Write(0x20, 0x0B);
        _pic.Write(0xA0, 0x0B);
        Assert.Equal(0x04, _pic.Read(0x20));
        Assert.Equal(0x10, _pic.Read(0xA0));
        NonSpecificEoi(true);
        NonSpecificEoi(false);
        Assert.Equal(0, _pic.Read(0x20));
        Assert.Equal(0, _pic.Read(0xA0));
    }

    [Fact]
    public void A_request_that_vanishes_before_inta_gives_spurious_irq7()
    {
        _pic.Write(0x20, 0x10 | 0x01); // restart init: ELCR decides edge/level
        _pic.Write(0x21, 0x08);
        _pic.Write(0x21, 0x04);
        _pic.Write(0x21, 0x01);
        _pic.Write(0x4D0, 0x08); // IRQ 3 level-triggered
        _pic.SetIrq(3, true);
        Assert.True(_pic.InterruptRequested);
        _pic.SetIrq(3, false);
        Assert.Equal(0x0F, _pic.Acknowledge());
        _pic.Write(0x20, 0x0B);
        Assert.Equal(0, _pic.Read(0x20)); // spurious IRQ 7 is not put in service
    }

    [Fact]
    public void Spurious_slave_interrupt_is_irq15()
    {
        _pic.Write(0x4D1, 0x08); // IRQ 11 level
        _pic.SetIrq(11, true);
        _pic.SetIrq(11, false);
        // master IRQ 2 still latched as an edge; the slave has nothing left
        Assert.Equal(0x77, _pic.Acknowledge());
    }

    [Fact]
    public void Level_triggered_irq_stays_requested_while_high_and_edge_needs_a_new_edge()
    {
        _pic.Write(0x4D0, 0x20); // IRQ 5 level
        Assert.Equal(0x20, _pic.Read(0x4D0));
        _pic.SetIrq(5, true);
        Assert.Equal(0x0D, _pic.Acknowledge());
        NonSpecificEoi(false);
        Assert.True(_pic.InterruptRequested); // still high: requested again
        _pic.SetIrq(5, false);
        Assert.False(_pic.InterruptRequested);

        _pic.SetIrq(6, true);
        Assert.Equal(0x0E, _pic.Acknowledge());
        NonSpecificEoi(false);
        Assert.False(_pic.InterruptRequested); // edge: held high is not a new request
    }

    [Fact]
    public void Elcr_ignores_bits_for_irqs_that_cannot_be_level_triggered()
    {
        _pic.Write(0x4D0, 0xFF);
        _pic.Write(0x4D1, 0xFF);
        Assert.Equal(0xF8, _pic.Read(0x4D0));
        Assert.Equal(0xDE, _pic.Read(0x4D1));
    }

    [Fact]
    public void Auto_eoi_leaves_nothing_in_service()
    {
        _pic.Write(0x20, 0x11);
        _pic.Write(0x21, 0x20);
        _pic.Write(0x21, 0x04);
        _pic.Write(0x21, 0x03); // 8086 mode, auto-EOI
        _pic.SetIrq(1, true);
        Assert.Equal(0x21, _pic.Acknowledge());
        _pic.SetIrq(0, true);
        Assert.Equal(0x20, _pic.Acknowledge());
        _pic.Write(0x20, 0x0B);
        Assert.Equal(0, _pic.Read(0x20));
    }

    [Fact]
    public void Poll_mode_returns_and_acknowledges_the_highest_request()
    {
        _pic.SetIrq(5, true);
        _pic.Write(0x20, 0x0C); // OCW3 poll
        Assert.Equal(0x85, _pic.Read(0x20));
        _pic.Write(0x20, 0x0B);
        Assert.Equal(0x20, _pic.Read(0x20));
        _pic.Write(0x20, 0x0C);
        Assert.Equal(0x00, _pic.Read(0x20)); // nothing else requested
    }

    [Fact]
    public void Specific_eoi_and_rotation_change_priorities()
    {
        _pic.SetIrq(1, true);
        Assert.Equal(0x09, _pic.Acknowledge());
        _pic.Write(0x20, 0x60 | 1); // specific EOI for IRQ 1
        _pic.Write(0x20, 0x0B);
        Assert.Equal(0, _pic.Read(0x20));

        _pic.Write(0x20, 0xC0 | 4); // set priority: IRQ 4 lowest, IRQ 5 highest
        _pic.SetIrq(3, true);
        _pic.SetIrq(6, true);
        Assert.Equal(0x0E, _pic.Acknowledge());
    }

    [Fact]
    public void Special_mask_mode_lets_lower_priorities_in_while_the_in_service_one_is_masked()
    {
        _pic.SetIrq(1, true);
        Assert.Equal(0x09, _pic.Acknowledge());
        _pic.SetIrq(5, true);
        Assert.False(_pic.InterruptRequested);
        _pic.Write(0x21, 0x02);   // mask IRQ 1
        _pic.Write(0x20, 0x68);   // OCW3: set special mask
        Assert.True(_pic.InterruptRequested);
        Assert.Equal(0x0D, _pic.Acknowledge());
    }
}
