namespace Vessel.Devices.Platform;

/// <summary>The PC's two cascaded 8259A interrupt controllers (the slave on the master's IRQ 2) and the
/// edge/level control registers (ELCR). Three port windows of two bytes each go on the port bus:
/// <see cref="MasterPorts"/> and <see cref="SlavePorts"/> (command at offset 0, data at 1) and
/// <see cref="ElcrPorts"/> (master's at 0, slave's at 1). A pure state machine: the owner feeds it IRQ line
/// levels, reads <see cref="InterruptRequested"/> and acknowledges with <see cref="Acknowledge"/>.
/// Thread-safe: every member takes the instance lock.</summary>
public sealed class DualPic
{
    /// <summary>Each window is two ports wide.</summary>
    public const int WindowLength = 2;

    private enum Register { MasterCommand, MasterData, SlaveCommand, SlaveData, ElcrMaster, ElcrSlave }

    private readonly Chip _master = new(isMaster: true), _slave = new(isMaster: false);
    private readonly object _lock = new();

    /// <summary>Called (outside the lock) whenever the INT output may have changed.</summary>
    public event Action? OutputChanged;

    public DualPic()
    {
        // ELCR bits for IRQ 0, 1, 2, 8 and 13 must stay 0 (edge).
        _master.ElcrMask = 0xF8;
        _slave.ElcrMask = 0xDE;
        MasterPorts = new Window(this, Register.MasterCommand);
        SlavePorts = new Window(this, Register.SlaveCommand);
        ElcrPorts = new Window(this, Register.ElcrMaster);
    }

    /// <summary>The master's command (offset 0) and data (offset 1) ports.</summary>
    public IPortDevice MasterPorts { get; }

    /// <summary>The slave's command (offset 0) and data (offset 1) ports.</summary>
    public IPortDevice SlavePorts { get; }

    /// <summary>The edge/level control registers: the master's (offset 0) and the slave's (offset 1).</summary>
    public IPortDevice ElcrPorts { get; }

    /// <summary>Whether the master's INT output is asserted (an unmasked request above the in-service priority).</summary>
    public bool InterruptRequested
    {
        get { lock (_lock) return _master.Output(); }
    }

    /// <summary>Drives IRQ <paramref name="irq"/> (0-15) to <paramref name="level"/>.</summary>
    public void SetIrq(int irq, bool level)
    {
        if (irq is < 0 or > 15) return;
        lock (_lock)
        {
            if (irq < 8) _master.SetLine(irq, level);
            else
            {
                _slave.SetLine(irq - 8, level);
                _master.SetLine(2, _slave.Output());
            }
        }
        OutputChanged?.Invoke();
    }

    /// <summary>The interrupt-acknowledge cycle: the vector of the highest-priority request (spurious IRQ 7 or 15
    /// when the request went away), marking it in service.</summary>
    public int Acknowledge()
    {
        int vector;
        lock (_lock)
        {
            int irq = _master.AcknowledgeIrq();
            if (irq == 2)
            {
                int slaveIrq = _slave.AcknowledgeIrq();
                vector = _slave.VectorBase + (slaveIrq < 0 ? 7 : slaveIrq);
                _master.SetLine(2, _slave.Output());
            }
            else
            {
                vector = _master.VectorBase + (irq < 0 ? 7 : irq);
            }
        }
        OutputChanged?.Invoke();
        return vector;
    }

    private byte Read(Register register)
    {
        lock (_lock)
        {
            return register switch
            {
                Register.MasterCommand => _master.ReadCommand(),
                Register.MasterData => _master.ReadData(),
                Register.SlaveCommand => _slave.ReadCommand(),
                Register.SlaveData => _slave.ReadData(),
                Register.ElcrMaster => _master.Elcr,
                Register.ElcrSlave => _slave.Elcr,
                _ => 0xFF,
            };
        }
    }

    private void Write(Register register, byte value)
    {
        lock (_lock)
        {
            switch (register)
            {
                case Register.MasterCommand: _master.WriteCommand(value); break;
                case Register.MasterData: _master.WriteData(value); break;
                case Register.SlaveCommand: _slave.WriteCommand(value); break;
                case Register.SlaveData: _slave.WriteData(value); break;
                case Register.ElcrMaster: _master.Elcr = (byte)(value & _master.ElcrMask); break;
                case Register.ElcrSlave: _slave.Elcr = (byte)(value & _slave.ElcrMask); break;
            }
            _master.SetLine(2, _slave.Output());
        }
        OutputChanged?.Invoke();
    }

    /// <summary>Two consecutive registers as a port device; every access moves one byte, as on the ISA bus.
    /// The PIC locks itself, so the bus needs no gate.</summary>
    private sealed class Window(DualPic pic, Register first) : IPortDevice, IConcurrentDevice
    {
        public uint Read(ushort offset, int size) =>
            offset < WindowLength ? pic.Read(first + offset) : PortAccess.AllOnes(size);

        public void Write(ushort offset, int size, uint value)
        {
            if (offset < WindowLength) pic.Write(first + offset, (byte)value);
        }
    }

    /// <summary>One 8259A.</summary>
    private sealed class Chip(bool isMaster)
    {
        public byte Irr, Isr, Imr, Elcr, ElcrMask;
        public int VectorBase;
        private byte _lines;
        private int _initStep; // 0: operational; 2-4: expecting ICW2-ICW4
        private bool _needIcw4, _single, _autoEoi, _rotateOnAutoEoi, _specialMask, _poll, _readIsr, _specialFullyNested;
        private int _lowestPriority = 7; // IRQ with the lowest priority; the next one has the highest

        public void SetLine(int irq, bool level)
        {
            byte bit = (byte)(1 << irq);
            bool wasHigh = (_lines & bit) != 0;
            if (level) _lines |= bit; else _lines &= (byte)~bit;
            if ((Elcr & bit) != 0)
            {
                if (level) Irr |= bit; else Irr &= (byte)~bit; // level triggered: follows the line
            }
            else if (level && !wasHigh)
            {
                Irr |= bit; // edge triggered: latched on the rising edge
            }
        }

        private int Priority(int irq) => (irq - _lowestPriority - 1) & 7; // 0 = highest

        private int HighestPriority(byte bits)
        {
            if (bits == 0) return -1;
            for (int p = 0; p < 8; p++)
            {
                int irq = (_lowestPriority + 1 + p) & 7;
                if ((bits & (1 << irq)) != 0) return irq;
            }
            return -1;
        }

        /// <summary>The request that would be delivered now, or -1.</summary>
        private int Pending()
        {
            int request = HighestPriority((byte)(Irr & ~Imr));
            if (request < 0) return -1;
            byte inService = Isr;
            if (_specialMask) inService &= (byte)~Imr;
            // The slave's requests may interrupt its own in-service IRQ 2 in special fully nested mode.
            if (isMaster && _specialFullyNested) inService &= unchecked((byte)~(1 << 2));
            int current = HighestPriority(inService);
            if (current >= 0 && Priority(current) <= Priority(request)) return -1;
            return request;
        }

        public bool Output() => _initStep == 0 && Pending() >= 0;

        public int AcknowledgeIrq()
        {
            int irq = Pending();
            if (irq < 0) return -1;
            byte bit = (byte)(1 << irq);
            if ((Elcr & bit) == 0) Irr &= (byte)~bit;
            if (_autoEoi)
            {
                if (_rotateOnAutoEoi) _lowestPriority = irq;
            }
            else
            {
                Isr |= bit;
            }
            return irq;
        }

        public byte ReadCommand()
        {
            if (_poll)
            {
                _poll = false;
                int irq = AcknowledgeIrq();
                return irq < 0 ? (byte)0 : (byte)(0x80 | irq);
            }
            return _readIsr ? Isr : Irr;
        }

        public byte ReadData() => Imr;

        public void WriteCommand(byte value)
        {
            if ((value & 0x10) != 0)
            {
                // ICW1: start initialisation.
                _initStep = 2;
                _needIcw4 = (value & 1) != 0;
                _single = (value & 2) != 0;
                Imr = 0; Isr = 0; Irr = 0;
                _lowestPriority = 7;
                _specialMask = _autoEoi = _rotateOnAutoEoi = _poll = _readIsr = _specialFullyNested = false;
                return;
            }
            if ((value & 0x08) != 0)
            {
                // OCW3
                if ((value & 0x04) != 0) _poll = true;
                if ((value & 0x02) != 0) _readIsr = (value & 0x01) != 0;
                if ((value & 0x40) != 0) _specialMask = (value & 0x20) != 0;
                return;
            }
            // OCW2: EOI and rotation commands.
            int command = value >> 5;
            int level = value & 7;
            switch (command)
            {
                case 1: // non-specific EOI
                case 5: // rotate on non-specific EOI
                {
                    int irq = HighestPriority(Isr);
                    if (irq < 0) break;
                    Isr &= (byte)~(1 << irq);
                    if (command == 5) _lowestPriority = irq;
                    break;
                }
                case 3: // specific EOI
                    Isr &= (byte)~(1 << level);
                    break;
                case 7: // rotate on specific EOI
                    Isr &= (byte)~(1 << level);
                    _lowestPriority = level;
                    break;
                case 4: _rotateOnAutoEoi = true; break;
                case 0: _rotateOnAutoEoi = false; break;
                case 6: _lowestPriority = level; break; // set priority
            }
        }

        public void WriteData(byte value)
        {
            switch (_initStep)
            {
                case 2:
                    VectorBase = value & 0xF8;
                    _initStep = _single ? (_needIcw4 ? 4 : 0) : 3;
                    return;
                case 3:
                    _initStep = _needIcw4 ? 4 : 0; // ICW3: the cascade wiring is fixed (slave on IRQ 2)
                    return;
                case 4:
                    _autoEoi = (value & 0x02) != 0;
                    _specialFullyNested = (value & 0x10) != 0;
                    _initStep = 0;
                    return;
                default:
                    Imr = value; // OCW1
                    return;
            }
        }
    }
}
