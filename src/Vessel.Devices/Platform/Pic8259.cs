namespace Vessel.Devices.Platform;

/// <summary>One 8259A: request, in-service and mask registers, the ICW1-4 initialisation sequence and
/// OCW1-3 (mask, EOI and rotation, read-register/poll/special-mask), with rotating priority.</summary>
internal sealed class Pic8259(byte elcrMask)
{
    public byte Irr, Isr, Imr, Elcr;
    public bool ReadIsr, Polling;
    public int VectorBase;
    private byte _lineLevels;
    private int _priorityAdd; // the IRQ with priority 0 (highest)
    private int _initStep; // 0: operational; 2, 3, 4: the ICW expected next
    private bool _needIcw4, _single, _autoEoi, _rotateOnAutoEoi, _specialMask;

    public void SetElcr(byte value) => Elcr = (byte)(value & elcrMask);

    public void SetIrq(int irq, bool level)
    {
        byte bit = (byte)(1 << irq);
        if ((Elcr & bit) != 0)
        {
            if (level) Irr |= bit; else Irr &= (byte)~bit;
        }
        else if (level && (_lineLevels & bit) == 0) Irr |= bit;
        if (level) _lineLevels |= bit; else _lineLevels &= (byte)~bit;
    }

    /// <summary>Priority rank (0 highest) of the highest-priority bit in <paramref name="mask"/>; 8 if none.</summary>
    private int Priority(byte mask)
    {
        if (mask == 0) return 8;
        int p = 0;
        while ((mask & (1 << ((p + _priorityAdd) & 7))) == 0) p++;
        return p;
    }

    /// <summary>The IRQ this chip would raise INTR for, or -1 (masked, or not above what is in service).</summary>
    public int HighestRequest()
    {
        int request = Priority((byte)(Irr & ~Imr));
        if (request == 8) return -1;
        byte inService = Isr;
        if (_specialMask) inService &= (byte)~Imr;
        if (request < Priority(inService)) return (request + _priorityAdd) & 7;
        return -1;
    }

    public void Acknowledge(int irq)
    {
        byte bit = (byte)(1 << irq);
        if (_autoEoi)
        {
            if (_rotateOnAutoEoi) _priorityAdd = (irq + 1) & 7;
        }
        else Isr |= bit;
        if ((Elcr & bit) == 0) Irr &= (byte)~bit;
    }

    public void Write(int offset, byte value)
    {
        if (offset == 0)
        {
            if ((value & 0x10) != 0) InitializationWord1(value);
            else if ((value & 0x08) != 0) OperationWord3(value);
            else OperationWord2(value);
            return;
        }
        switch (_initStep)
        {
            case 2:
                VectorBase = value & 0xF8;
                _initStep = !_single ? 3 : _needIcw4 ? 4 : 0;
                break;
            case 3:
                _initStep = _needIcw4 ? 4 : 0;
                break;
            case 4:
                _autoEoi = (value & 0x02) != 0;
                _initStep = 0;
                break;
            default:
                Imr = value;
                break;
        }
    }

    private void InitializationWord1(byte value)
    {
        Irr = Isr = Imr = 0;
        _lineLevels = 0;
        _priorityAdd = 0;
        ReadIsr = Polling = _specialMask = _autoEoi = _rotateOnAutoEoi = false;
        _needIcw4 = (value & 0x01) != 0;
        _single = (value & 0x02) != 0;
        _initStep = 2;
    }

    private void OperationWord3(byte value)
    {
        if ((value & 0x04) != 0) Polling = true;
        if ((value & 0x02) != 0) ReadIsr = (value & 0x01) != 0;
        if ((value & 0x40) != 0) _specialMask = (value & 0x20) != 0;
    }

    private void OperationWord2(byte value)
    {
        int command = value >> 5;
        switch (command)
        {
            case 0: _rotateOnAutoEoi = false; break;
            case 4: _rotateOnAutoEoi = true; break;
            case 1 or 5: // non-specific EOI (and rotate)
                int priority = Priority(Isr);
                if (priority == 8) break;
                int irq = (priority + _priorityAdd) & 7;
                Isr &= (byte)~(1 << irq);
                if (command == 5) _priorityAdd = (irq + 1) & 7;
                break;
            case 3 or 7: // specific EOI (and rotate)
                Isr &= (byte)~(1 << (value & 7));
                if (command == 7) _priorityAdd = ((value & 7) + 1) & 7;
                break;
            case 6: // set priority: IRQ (value & 7) becomes the lowest
                _priorityAdd = ((value & 7) + 1) & 7;
                break;
        }
    }
}
