using System.Runtime.CompilerServices;
using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>Executes the <see cref="FastOp"/>s that <see cref="FastOpClassifier"/> made of decoded instructions.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>The fast form of <paramref name="ins"/> (see <see cref="FastOpClassifier"/>).</summary>
    internal static FastOp Classify(ref Instruction ins, int bitness) => FastOpClassifier.Classify(ref ins, bitness);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void StoreSized(int index, int size, ulong value) => Gpr[index] = size == 8 ? value : (uint)value;

    /// <summary>Executes a classified instruction; false for <see cref="FastOpKind.Generic"/>.</summary>
    private bool ExecuteFast(ref FastOp f)
    {
        switch (f.Kind)
        {
            case FastOpKind.AluRegReg:
                ExecuteFastAlu(ref f, Gpr[f.Source]);
                return true;
            case FastOpKind.AluRegImm:
                ExecuteFastAlu(ref f, f.Immediate);
                return true;
            case FastOpKind.IncReg:
            {
                ulong a = Gpr[f.Destination];
                ulong r = a + 1;
                SetLazyIncDec(FlagOp.Inc, f.Size, a, r);
                StoreSized(f.Destination, f.Size, r);
                return true;
            }
            case FastOpKind.DecReg:
            {
                ulong a = Gpr[f.Destination];
                ulong r = a - 1;
                SetLazyIncDec(FlagOp.Dec, f.Size, a, r);
                StoreSized(f.Destination, f.Size, r);
                return true;
            }
            case FastOpKind.MovRegReg:
                StoreSized(f.Destination, f.Size, Gpr[f.Source]);
                return true;
            case FastOpKind.MovRegImm:
                StoreSized(f.Destination, f.Size, f.Immediate);
                return true;
            case FastOpKind.Jcc:
                if (Condition((ConditionCode)f.Operation)) TakeConditionalBranch(f.Immediate);
                return true;
            case FastOpKind.Jmp:
                JumpNear(f.Immediate);
                return true;
            case FastOpKind.ShiftRegImm:
                ExecuteFastShift(ref f);
                return true;
            case FastOpKind.CmovRegReg:
                if (Condition((ConditionCode)f.Operation)) StoreSized(f.Destination, f.Size, Gpr[f.Source]);
                else if (f.Size == 4) Gpr[f.Destination] = (uint)Gpr[f.Destination]; // 32-bit forms always zero the upper half
                return true;
            case FastOpKind.ImulRegReg:
                ExecuteFastImul(ref f, Gpr[f.Destination]);
                return true;
            case FastOpKind.ImulRegRegImm:
                ExecuteFastImul(ref f, f.Immediate);
                return true;
            case FastOpKind.NotReg:
                StoreSized(f.Destination, f.Size, ~Gpr[f.Destination]);
                return true;
            case FastOpKind.Nop:
                return true;
            case FastOpKind.MovzxRegReg:
                StoreSized(f.Destination, f.Size, Gpr[f.Source] & SizeMask(f.Operation));
                return true;
            case FastOpKind.MovsxRegReg:
                StoreSized(f.Destination, f.Size, (ulong)SignExtend(Gpr[f.Source], f.Operation));
                return true;
            case FastOpKind.Generic:
                return false;
            default:
                return ExecuteFastMemory(ref f);
        }
    }

    /// <summary>SHL/SHR/SAR of a full register by a non-zero immediate: all six flags are written, so the old
    /// ones need not be materialised. CF and OF are stored now; ZF/SF/PF stay lazy (AF is undefined: clear).</summary>
    private void ExecuteFastShift(ref FastOp f)
    {
        int size = f.Size;
        int bits = size * 8;
        int count = (int)f.Immediate;
        ulong mask = size == 8 ? ulong.MaxValue : 0xFFFF_FFFF;
        ulong a = Gpr[f.Destination] & mask;
        ulong sign = 1UL << (bits - 1);
        ulong r;
        bool cf, of;
        switch ((ShiftOperation)f.Operation)
        {
            case ShiftOperation.Shl:
                r = (a << count) & mask;
                cf = ((a >> (bits - count)) & 1) != 0;
                of = ((r & sign) != 0) ^ cf;
                break;
            case ShiftOperation.Shr:
                r = a >> count;
                cf = ((a >> (count - 1)) & 1) != 0;
                of = (a & sign) != 0;
                break;
            default:
            {
                long sa = size == 8 ? (long)a : (int)a;
                r = (ulong)(sa >> count) & mask;
                cf = ((sa >> (count - 1)) & 1) != 0;
                of = false;
                break;
            }
        }
        _rflags = (_rflags & ~Hypervisor.RflagsBits.Arithmetic)
                  | (cf ? Hypervisor.RflagsBits.Cf : 0) | (of ? Hypervisor.RflagsBits.Of : 0);
        SetLazy(FlagOp.Shift, size, 0, 0, r);
        Gpr[f.Destination] = r;
    }

    /// <summary>IMUL of the source register by <paramref name="other"/> into the destination, flags as the
    /// general IMUL sets them.</summary>
    private void ExecuteFastImul(ref FastOp f, ulong other)
    {
        int size = f.Size;
        long x = size == 8 ? (long)Gpr[f.Source] : (int)Gpr[f.Source];
        long y = size == 8 ? (long)other : (int)other;
        long high = Math.BigMul(x, y, out long low);
        bool overflow = size == 8 ? high != (low >> 63) : low != (int)low;
        StoreSized(f.Destination, size, (ulong)low);
        SetMulFlags((ulong)low, size, overflow);
    }

    private void ExecuteFastAlu(ref FastOp f, ulong b)
    {
        int size = f.Size;
        var op = (AluOperation)f.Operation;
        ulong a = Gpr[f.Destination];
        if (op is AluOperation.Cmp or AluOperation.Test)
        {
            AluFlagsOnly(op, size, a, b);
            return;
        }
        bool cf = op is AluOperation.Adc or AluOperation.Sbb && GetCf();
        ulong r = AluResult(op, size, a, b, cf);
        Gpr[f.Destination] = r;
        AluSetFlags(op, size, a & SizeMask(size), b & SizeMask(size), r, cf);
    }

    /// <summary>The result of an ALU operation, truncated to <paramref name="size"/>; no state changes, so a
    /// memory destination can be written (and fault) before the flags are committed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong AluResult(AluOperation op, int size, ulong a, ulong b, bool carryIn)
    {
        ulong c = carryIn ? 1UL : 0;
        ulong r = op switch
        {
            AluOperation.Add => a + b,
            AluOperation.Adc => a + b + c,
            AluOperation.Sub or AluOperation.Cmp => a - b,
            AluOperation.Sbb => a - b - c,
            AluOperation.And or AluOperation.Test => a & b,
            AluOperation.Or => a | b,
            _ => a ^ b,
        };
        return r & SizeMask(size);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AluSetFlags(AluOperation op, int size, ulong a, ulong b, ulong r, bool carryIn)
    {
        switch (op)
        {
            case AluOperation.Add: SetLazy(FlagOp.Add, size, a, b, r); break;
            case AluOperation.Sub: case AluOperation.Cmp: SetLazy(FlagOp.Sub, size, a, b, r); break;
            case AluOperation.Adc: SetLazyAdcSbb(FlagOp.Adc, size, a, b, r, carryIn); break;
            case AluOperation.Sbb: SetLazyAdcSbb(FlagOp.Sbb, size, a, b, r, carryIn); break;
            default: SetLazy(FlagOp.Logic, size, 0, 0, r); break;
        }
    }

    /// <summary>CMP and TEST: flags only.</summary>
    private void AluFlagsOnly(AluOperation op, int size, ulong a, ulong b)
    {
        ulong mask = SizeMask(size);
        a &= mask;
        b &= mask;
        if (op == AluOperation.Cmp) SetLazy(FlagOp.Sub, size, a, b, (a - b) & mask);
        else SetLazy(FlagOp.Logic, size, 0, 0, a & b);
    }
}
