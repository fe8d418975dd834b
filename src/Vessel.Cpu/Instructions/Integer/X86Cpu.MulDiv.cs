using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>MUL IMUL DIV IDIV. SF/ZF/PF/AF after multiplies are undefined; Vessel sets them from the low result.</summary>
internal sealed partial class X86Cpu
{
    private void SetMulFlags(ulong low, int size, bool overflow)
    {
        MaterializeFlags();
        _rflags = (_rflags & ~Arithmetic) | ResultFlags(low, size) | (overflow ? Cf | Of : 0);
    }

    private void ExecuteMul(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong src = ReadOperand(ref ins, 0, size);
        switch (size)
        {
            case 1:
            {
                ulong p = (Gpr[0] & 0xFF) * src;
                WriteGprSized(0, 2, p);
                SetMulFlags(p, 1, (p >> 8) != 0);
                break;
            }
            case 2:
            {
                ulong p = (Gpr[0] & 0xFFFF) * src;
                WriteGprSized(0, 2, p);
                WriteGprSized(2, 2, p >> 16);
                SetMulFlags(p, 2, (p >> 16) != 0);
                break;
            }
            case 4:
            {
                ulong p = (Gpr[0] & 0xFFFF_FFFF) * src;
                WriteGprSized(0, 4, p);
                WriteGprSized(2, 4, p >> 32);
                SetMulFlags(p, 4, (p >> 32) != 0);
                break;
            }
            default:
            {
                ulong hi = Math.BigMul(Gpr[0], src, out ulong lo);
                Gpr[0] = lo;
                Gpr[2] = hi;
                SetMulFlags(lo, 8, hi != 0);
                break;
            }
        }
    }

    private static long SignExtend(ulong v, int size) => size switch
    {
        1 => (sbyte)v, 2 => (short)v, 4 => (int)v, _ => (long)v,
    };

    private void ExecuteImul(ref Instruction ins)
    {
        if (ins.OpCount == 1)
        {
            int size = OperandSize(ref ins, 0);
            long src = SignExtend(ReadOperand(ref ins, 0, size), size);
            switch (size)
            {
                case 1:
                {
                    long p = (sbyte)Gpr[0] * src;
                    WriteGprSized(0, 2, (ulong)p);
                    SetMulFlags((ulong)p, 1, p != (sbyte)p);
                    break;
                }
                case 2:
                {
                    long p = (short)Gpr[0] * src;
                    WriteGprSized(0, 2, (ulong)p);
                    WriteGprSized(2, 2, (ulong)(p >> 16));
                    SetMulFlags((ulong)p, 2, p != (short)p);
                    break;
                }
                case 4:
                {
                    long p = (int)Gpr[0] * src;
                    WriteGprSized(0, 4, (ulong)p);
                    WriteGprSized(2, 4, (ulong)(p >> 32));
                    SetMulFlags((ulong)p, 4, p != (int)p);
                    break;
                }
                default:
                {
                    long hi = Math.BigMul((long)Gpr[0], src, out long lo);
                    Gpr[0] = (ulong)lo;
                    Gpr[2] = (ulong)hi;
                    SetMulFlags((ulong)lo, 8, hi != (lo >> 63));
                    break;
                }
            }
            return;
        }

        // Two- and three-operand forms: the destination register gets the truncated product.
        int sz = OperandSize(ref ins, 0);
        long x, y;
        if (ins.OpCount == 2)
        {
            x = SignExtend(ReadOperand(ref ins, 0, sz), sz);
            y = SignExtend(ReadOperand(ref ins, 1, sz), sz);
        }
        else
        {
            x = SignExtend(ReadOperand(ref ins, 1, sz), sz);
            y = SignExtend(ReadOperand(ref ins, 2, sz), sz);
        }
        long high = Math.BigMul(x, y, out long low);
        bool overflow = sz == 8 ? high != (low >> 63) : low != SignExtend((ulong)low, sz);
        WriteGpr(ins.Op0Register, (ulong)low);
        SetMulFlags((ulong)low, sz, overflow);
    }

    private void ExecuteDiv(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong divisor = ReadOperand(ref ins, 0, size);
        if (divisor == 0) FaultNoCode(Vector.DE);
        bool signed = ins.Mnemonic == Mnemonic.Idiv;
        if (size == 8)
        {
            if (signed)
            {
                Int128 dividend = (Int128)(((UInt128)Gpr[2] << 64) | Gpr[0]);
                Int128 d = (long)divisor;
                if (dividend == Int128.MinValue && d == -1) FaultNoCode(Vector.DE);
                Int128 q = dividend / d, rem = dividend % d;
                if (q > long.MaxValue || q < long.MinValue) FaultNoCode(Vector.DE);
                Gpr[0] = (ulong)(long)q;
                Gpr[2] = (ulong)(long)rem;
            }
            else
            {
                UInt128 dividend = ((UInt128)Gpr[2] << 64) | Gpr[0];
                UInt128 q = dividend / divisor, rem = dividend % divisor;
                if (q > ulong.MaxValue) FaultNoCode(Vector.DE);
                Gpr[0] = (ulong)q;
                Gpr[2] = (ulong)rem;
            }
            return;
        }

        int bits = size * 8;
        ulong dividendU = size == 1 ? Gpr[0] & 0xFFFF : ((Gpr[2] & SizeMask(size)) << bits) | (Gpr[0] & SizeMask(size));
        ulong quotient, remainder;
        if (signed)
        {
            long dividendS = SignExtend(dividendU, size * 2);
            long d = SignExtend(divisor, size);
            if (d == -1 && dividendS == long.MinValue) FaultNoCode(Vector.DE);
            long q = dividendS / d, r = dividendS % d;
            long min = -(1L << (bits - 1)), max = (1L << (bits - 1)) - 1;
            if (q < min || q > max) FaultNoCode(Vector.DE);
            quotient = (ulong)q;
            remainder = (ulong)r;
        }
        else
        {
            quotient = dividendU / divisor;
            remainder = dividendU % divisor;
            if (quotient > SizeMask(size)) FaultNoCode(Vector.DE);
        }
        if (size == 1)
        {
            WriteGprSized(0, 2, (quotient & 0xFF) | ((remainder & 0xFF) << 8));
        }
        else
        {
            WriteGprSized(0, size, quotient);
            WriteGprSized(2, size, remainder);
        }
    }
}
