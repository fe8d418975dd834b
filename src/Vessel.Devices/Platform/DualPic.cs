namespace Vessel.Devices.Platform;

/// <summary>The PC's cascaded pair of 8259A interrupt controllers: master at 0x20-0x21 (IRQ 0-7),
/// slave at 0xA0-0xA1 (IRQ 8-15) on the master's IRQ 2, plus the edge/level control registers (ELCR) at
/// 0x4D0-0x4D1. The master's INTR output goes to <see cref="Intr"/>; the CPU's interrupt acknowledge is
/// <see cref="Acknowledge"/>. Not thread-safe: the platform serialises calls.</summary>
public sealed class DualPic
{
    public const ushort MasterBase = 0x20, SlaveBase = 0xA0, ElcrBase = 0x4D0;

    private readonly Pic8259 _master = new(elcrMask: 0xF8), _slave = new(elcrMask: 0xDE);
    private readonly IInterruptLine _intr;

    public DualPic(IInterruptLine intr) => _intr = intr;

    /// <summary>The master's INTR output level.</summary>
    public bool InterruptOutput { get; private set; }

    /// <summary>Drives ISA IRQ <paramref name="irq"/> (0-15).</summary>
    public void SetIrq(int irq, bool level)
    {
        if ((uint)irq >= 16) throw new ArgumentOutOfRangeException(nameof(irq));
        if (irq < 8) _master.SetIrq(irq, level);
        else _slave.SetIrq(irq - 8, level);
        Update();
    }

    /// <summary>Reads port <paramref name="offset"/> (0 or 1) of the master (<paramref name="slave"/> false) or slave.</summary>
    public byte Read(bool slave, int offset)
    {
        Pic8259 chip = slave ? _slave : _master;
        byte value;
        if (chip.Polling)
        {
            value = PollRead(chip, slave);
        }
        else value = offset == 0 ? (chip.ReadIsr ? chip.Isr : chip.Irr) : chip.Imr;
        Update();
        return value;
    }

    public void Write(bool slave, int offset, byte value)
    {
        (slave ? _slave : _master).Write(offset, value);
        Update();
    }

    public byte ReadElcr(int offset) => offset == 0 ? _master.Elcr : _slave.Elcr;

    public void WriteElcr(int offset, byte value)
    {
        (offset == 0 ? _master : _slave).SetElcr(value);
        Update();
    }

    /// <summary>INTA: the vector of the highest-priority request, marked in service; a spurious IRQ 7
    /// (or 15 through the cascade) when the request went away.</summary>
    public int Acknowledge()
    {
        int vector;
        int irq = _master.HighestRequest();
        if (irq >= 0)
        {
            if (irq == 2)
            {
                int slaveIrq = _slave.HighestRequest();
                if (slaveIrq >= 0) _slave.Acknowledge(slaveIrq);
                else slaveIrq = 7;
                vector = _slave.VectorBase + slaveIrq;
            }
            else vector = _master.VectorBase + irq;
            _master.Acknowledge(irq);
        }
        else vector = _master.VectorBase + 7;
        Update();
        return vector;
    }

    private byte PollRead(Pic8259 chip, bool slave)
    {
        chip.Polling = false;
        int irq = chip.HighestRequest();
        if (irq < 0) return 0;
        if (!slave && irq == 2)
        {
            int slaveIrq = _slave.HighestRequest();
            if (slaveIrq >= 0) _slave.Acknowledge(slaveIrq);
        }
        chip.Acknowledge(irq);
        return (byte)(0x80 | irq);
    }

    private void Update()
    {
        // The slave's INTR is an edge on master IRQ 2 for as long as it has a request to offer.
        if (_slave.HighestRequest() >= 0)
        {
            _master.SetIrq(2, true);
            _master.SetIrq(2, false);
        }
        bool output = _master.HighestRequest() >= 0;
        if (output != InterruptOutput)
        {
            InterruptOutput = output;
            _intr.Set(output);
        }
    }
}
