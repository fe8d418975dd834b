using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>MUL IMUL DIV IDIV. SF/ZF/PF/AF after multiplies are undefined; Vessel sets them from the low result.</summary>
internal sealed class MultiplyDivideUnit<TCpu>(TCpu cpu) where TCpu : struct, IIntegerCpu
{
    private readonly TCpu _cpu = cpu;

    private ref GprFile Gpr => ref _cpu.State.Gpr;

    public void Mul(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong src = _cpu.ReadOperand(ref ins, 0, size);
        switch (size)
        {
            case 1:
            {
                ulong p = (Gpr[0] & 0xFF) * src;
                _cpu.WriteGprSized(0, 2, p);
                _cpu.SetMulFlags(p, 1, (p >> 8) != 0);
                break;
            }
            case 2:
            {
                ulong p = (Gpr[0] & 0xFFFF) * src;
                _cpu.WriteGprSized(0, 2, p);
                _cpu.WriteGprSized(2, 2, p >> 16);
                _cpu.SetMulFlags(p, 2, (p >> 16) != 0);
                break;
            }
            case 4:
            {
                ulong p = (Gpr[0] & 0xFFFF_FFFF) * src;
                _cpu.WriteGprSized(0, 4, p);
                _cpu.WriteGprSized(2, 4, p >> 32);
                _cpu.SetMulFlags(p, 4, (p >> 32) != 0);
                break;
            }
            default:
            {
                ulong hi = Math.BigMul(Gpr[0], src, out ulong lo);
                Gpr[0] = lo;
                Gpr[2] = hi;
                _cpu.SetMulFlags(lo, 8, hi != 0);
                break;
            }
        }
    }

    public void Imul(ref Instruction ins)
    {
        if (ins.OpCount == 1)
        {
            ImulAccumulator(ref ins);
            return;
        }

        // Two- and three-operand forms: the destination register gets the truncated product.
        int sz = OperandSize(ref ins, 0);
        long x, y;
        if (ins.OpCount == 2)
        {
            x = X86Cpu.SignExtend(_cpu.ReadOperand(ref ins, 0, sz), sz);
            y = X86Cpu.SignExtend(_cpu.ReadOperand(ref ins, 1, sz), sz);
        }
        else
        {
            x = X86Cpu.SignExtend(_cpu.ReadOperand(ref ins, 1, sz), sz);
            y = X86Cpu.SignExtend(_cpu.ReadOperand(ref ins, 2, sz), sz);
        }
        long high = Math.BigMul(x, y, out long low);
        bool overflow = sz == 8 ? high != (low >> 63) : low != X86Cpu.SignExtend((ulong)low, sz);
        _cpu.WriteGpr(ins.Op0Register, (ulong)low);
        _cpu.SetMulFlags((ulong)low, sz, overflow);
    }

    /// <summary>The one-operand IMUL: rDX:rAX (AX for bytes) = rAX * r/m, signed.</summary>
    private void ImulAccumulator(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        long src = X86Cpu.SignExtend(_cpu.ReadOperand(ref ins, 0, size), size);
        switch (size)
        {
            case 1:
            {
                long p = (sbyte)Gpr[0] * src;
                _cpu.WriteGprSized(0, 2, (ulong)p);
                _cpu.SetMulFlags((ulong)p, 1, p != (sbyte)p);
                break;
            }
            case 2:
            {
                long p = (short)Gpr[0] * src;
                _cpu.WriteGprSized(0, 2, (ulong)p);
                _cpu.WriteGprSized(2, 2, (ulong)(p >> 16));
                _cpu.SetMulFlags((ulong)p, 2, p != (short)p);
                break;
            }
            case 4:
            {
                long p = (int)Gpr[0] * src;
                _cpu.WriteGprSized(0, 4, (ulong)p);
                _cpu.WriteGprSized(2, 4, (ulong)(p >> 32));
                _cpu.SetMulFlags((ulong)p, 4, p != (int)p);
                break;
            }
            default:
            {
                long hi = Math.BigMul((long)Gpr[0], src, out long lo);
                Gpr[0] = (ulong)lo;
                Gpr[2] = (ulong)hi;
                _cpu.SetMulFlags((ulong)lo, 8, hi != (lo >> 63));
                break;
            }
        }
    }

    public void Div(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong divisor = _cpu.ReadOperand(ref ins, 0, size);
        if (divisor == 0) _cpu.FaultNoCode(Vector.DE);
        bool signed = ins.Mnemonic == Mnemonic.Idiv;
        if (size == 8)
        {
            Divide128(divisor, signed);
            return;
        }

        int bits = size * 8;
        ulong mask = X86Cpu.SizeMask(size);
        ulong dividendU = size == 1 ? Gpr[0] & 0xFFFF : ((Gpr[2] & mask) << bits) | (Gpr[0] & mask);
        ulong quotient, remainder;
        if (signed)
        {
            long dividendS = X86Cpu.SignExtend(dividendU, size * 2);
            long d = X86Cpu.SignExtend(divisor, size);
            if (d == -1 && dividendS == long.MinValue) _cpu.FaultNoCode(Vector.DE);
            long q = dividendS / d, r = dividendS % d;
            long min = -(1L << (bits - 1)), max = (1L << (bits - 1)) - 1;
            if (q < min || q > max) _cpu.FaultNoCode(Vector.DE);
            quotient = (ulong)q;
            remainder = (ulong)r;
        }
        else
        {
            quotient = dividendU / divisor;
            remainder = dividendU % divisor;
            if (quotient > mask) _cpu.FaultNoCode(Vector.DE);
        }
        if (size == 1)
        {
            _cpu.WriteGprSized(0, 2, (quotient & 0xFF) | ((remainder & 0xFF) << 8));
        }
        else
        {
            _cpu.WriteGprSized(0, size, quotient);
            _cpu.WriteGprSized(2, size, remainder);
        }
    }

    /// <summary>RDX:RAX / divisor into RAX (quotient) and RDX (remainder); #DE when the quotient does not fit.</summary>
    private void Divide128(ulong divisor, bool signed)
    {
        if (signed)
        {
            Int128 dividend = (Int128)(((UInt128)Gpr[2] << 64) | Gpr[0]);
            Int128 d = (long)divisor;
            if (dividend == Int128.MinValue && d == -1) _cpu.FaultNoCode(Vector.DE);
            Int128 q = dividend / d, rem = dividend % d;
            if (q > long.MaxValue || q < long.MinValue) _cpu.FaultNoCode(Vector.DE);
            Gpr[0] = (ulong)(long)q;
            Gpr[2] = (ulong)(long)rem;
        }
        else
        {
            UInt128 dividend = ((UInt128)Gpr[2] << 64) | Gpr[0];
            UInt128 q = dividend / divisor, rem = dividend % divisor;
            if (q > ulong.MaxValue) _cpu.FaultNoCode(Vector.DE);
            Gpr[0] = (ulong)q;
            Gpr[2] = (ulong)rem;
        }
    }
}
