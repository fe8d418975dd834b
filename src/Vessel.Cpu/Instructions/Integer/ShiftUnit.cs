using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>SHL SAL SHR SAR ROL ROR RCL RCR SHLD SHRD, with flags computed eagerly.</summary>
internal sealed class ShiftUnit<TCpu>(TCpu cpu) where TCpu : struct, IIntegerCpu
{
    private readonly TCpu _cpu = cpu;

    private ref ulong Rflags => ref _cpu.State.Rflags;

    private static ulong SignBit(int size) => 1UL << (size * 8 - 1);

    public void Shift(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        int bits = size * 8;
        // The count is the second operand (CL or an immediate); D0/D1 forms encode an implicit 1.
        int count = ins.OpCount > 1 ? (int)_cpu.ReadOperand(ref ins, 1, 1) : 1;
        if (!TryReadShiftTarget(ref ins, size, ref count, out ulong a)) return;
        ulong mask = X86Cpu.SizeMask(size);
        ulong sign = SignBit(size);
        ulong r;
        _cpu.MaterializeFlags();
        ulong f = Rflags;
        bool cf;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Shl:
            case Mnemonic.Sal:
                r = count >= 64 ? 0 : (a << count) & mask;
                cf = count <= bits && ((a >> (bits - count)) & 1) != 0;
                f = (f & ~Arithmetic) | _cpu.ResultFlags(r, size) | (cf ? Cf : 0)
                    | ((((r & sign) != 0) ^ cf) ? Of : 0);
                break;
            case Mnemonic.Shr:
                r = count >= 64 ? 0 : a >> count;
                cf = count <= bits && ((a >> (count - 1)) & 1) != 0;
                f = (f & ~Arithmetic) | _cpu.ResultFlags(r, size) | (cf ? Cf : 0) | ((a & sign) != 0 ? Of : 0);
                break;
            case Mnemonic.Sar:
            {
                long sa = (long)(a << (64 - bits)) >> (64 - bits);
                int c = Math.Min(count, 63);
                r = (ulong)(sa >> c) & mask;
                cf = ((sa >> (c - 1)) & 1) != 0;
                f = (f & ~Arithmetic) | _cpu.ResultFlags(r, size) | (cf ? Cf : 0);
                break;
            }
            case Mnemonic.Rol:
            {
                int c = count % bits;
                r = c == 0 ? a : ((a << c) | (a >> (bits - c))) & mask;
                cf = (r & 1) != 0;
                f = (f & ~(Cf | Of)) | (cf ? Cf : 0) | ((((r & sign) != 0) ^ cf) ? Of : 0);
                break;
            }
            case Mnemonic.Ror:
            {
                int c = count % bits;
                r = c == 0 ? a : ((a >> c) | (a << (bits - c))) & mask;
                cf = (r & sign) != 0;
                bool second = (r & (sign >> 1)) != 0;
                f = (f & ~(Cf | Of)) | (cf ? Cf : 0) | ((cf ^ second) ? Of : 0);
                break;
            }
            case Mnemonic.Rcl:
            {
                int c = count % (bits + 1);
                cf = (f & Cf) != 0;
                r = a;
                for (int i = 0; i < c; i++)
                {
                    bool outBit = (r & sign) != 0;
                    r = ((r << 1) | (cf ? 1UL : 0)) & mask;
                    cf = outBit;
                }
                f = (f & ~(Cf | Of)) | (cf ? Cf : 0) | ((((r & sign) != 0) ^ cf) ? Of : 0);
                break;
            }
            default: // Rcr
            {
                int c = count % (bits + 1);
                cf = (f & Cf) != 0;
                r = a;
                bool ofBit = false;
                for (int i = 0; i < c; i++)
                {
                    if (i == 0) ofBit = ((r & sign) != 0) ^ cf;
                    bool outBit = (r & 1) != 0;
                    r = (r >> 1) | (cf ? sign : 0);
                    cf = outBit;
                }
                f = (f & ~(Cf | Of)) | (cf ? Cf : 0) | (ofBit ? Of : 0);
                break;
            }
        }
        Rflags = f;
        _cpu.WriteModifyTarget(ref ins, size, r);
    }

    /// <summary>Masks a shift count (6 bits for 64-bit operands, else 5) and reads the destination. A count of 0
    /// changes nothing, flags included, but the destination is still written back (the access stays a
    /// read-modify-write); then false.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private bool TryReadShiftTarget(ref Instruction ins, int size, ref int count, out ulong a)
    {
        count &= size == 8 ? 0x3F : 0x1F;
        a = _cpu.ReadModifyTarget(ref ins, size);
        if (count != 0) return true;
        _cpu.WriteModifyTarget(ref ins, size, a);
        return false;
    }

    public void DoubleShift(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        int bits = size * 8;
        int count = (int)_cpu.ReadOperand(ref ins, 2, 1);
        ulong src = _cpu.ReadOperand(ref ins, 1, size);
        if (!TryReadShiftTarget(ref ins, size, ref count, out ulong a)) return;
        ulong mask = X86Cpu.SizeMask(size);
        ulong sign = SignBit(size);
        ulong r;
        bool cf;
        if (size == 2)
        {
            // 16-bit forms shift through the 32-bit concatenation (counts above 16 are architecturally undefined).
            if (ins.Mnemonic == Mnemonic.Shld)
            {
                ulong wide = (a << 32) | (src << 16) | a;
                r = (wide << count >> 32) & mask;
                cf = ((wide << (count - 1)) & (1UL << 47)) != 0;
            }
            else
            {
                ulong wide = a | (src << 16) | (a << 32);
                r = (wide >> count) & mask;
                cf = ((wide >> (count - 1)) & 1) != 0;
            }
        }
        else if (ins.Mnemonic == Mnemonic.Shld)
        {
            r = ((a << count) | (src >> (bits - count))) & mask;
            cf = ((a >> (bits - count)) & 1) != 0;
        }
        else
        {
            r = ((a >> count) | (src << (bits - count))) & mask;
            cf = ((a >> (count - 1)) & 1) != 0;
        }
        _cpu.MaterializeFlags();
        bool of = ((r ^ a) & sign) != 0;
        Rflags = (Rflags & ~Arithmetic) | _cpu.ResultFlags(r, size) | (cf ? Cf : 0) | (of ? Of : 0);
        _cpu.WriteModifyTarget(ref ins, size, r);
    }
}
