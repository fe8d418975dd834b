using System.Runtime.CompilerServices;
using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>Classifies decoded instructions into <see cref="FastOp"/>s and executes them.</summary>
internal sealed partial class X86Cpu
{
    private static AluOperation? AluOf(Mnemonic m) => m switch
    {
        Mnemonic.Add => AluOperation.Add, Mnemonic.Or => AluOperation.Or, Mnemonic.Adc => AluOperation.Adc,
        Mnemonic.Sbb => AluOperation.Sbb, Mnemonic.And => AluOperation.And, Mnemonic.Sub => AluOperation.Sub,
        Mnemonic.Xor => AluOperation.Xor, Mnemonic.Cmp => AluOperation.Cmp, Mnemonic.Test => AluOperation.Test,
        _ => null,
    };

    private static bool IsFullGpr(Register r, out byte index, out byte size)
    {
        index = RegisterTable.GprIndex[(int)r];
        size = RegisterTable.Size[(int)r];
        return size is 4 or 8;
    }

    internal static FastOp Classify(ref Instruction ins, int bitness)
    {
        var f = new FastOp();
        if (ins.HasLockPrefix || ins.HasRepPrefix || ins.HasRepnePrefix) return f;
        ClassifyMemoryForms(ref ins, ref f, bitness);
        if (f.Kind != FastOpKind.Generic) return f;
        f = new FastOp();
        Mnemonic m = ins.Mnemonic;
        if (ins.IsJccShortOrNear)
        {
            f.Kind = FastOpKind.Jcc;
            f.Operation = (byte)ins.ConditionCode;
            f.Immediate = ins.NearBranchTarget;
            return f;
        }
        if (m == Mnemonic.Jmp && ins.Op0Kind is OpKind.NearBranch16 or OpKind.NearBranch32 or OpKind.NearBranch64)
        {
            f.Kind = FastOpKind.Jmp;
            f.Immediate = ins.NearBranchTarget;
            return f;
        }
        if (m == Mnemonic.Nop)
        {
            f.Kind = FastOpKind.Nop;
            return f;
        }
        if (ins.OpCount == 0 || ins.Op0Kind != OpKind.Register || !IsFullGpr(ins.Op0Register, out byte dst, out byte size))
            return f;
        f.Destination = dst;
        f.Size = size;
        if (AluOf(m) is AluOperation op && ins.OpCount == 2)
        {
            f.Operation = (byte)op;
            if (ins.Op1Kind == OpKind.Register && IsFullGpr(ins.Op1Register, out byte src, out _))
            {
                f.Kind = FastOpKind.AluRegReg;
                f.Source = src;
            }
            else if (ins.Op1Kind is OpKind.Immediate8to32 or OpKind.Immediate8to64 or OpKind.Immediate32 or OpKind.Immediate32to64)
            {
                f.Kind = FastOpKind.AluRegImm;
                f.Immediate = ins.GetImmediate(1);
            }
            return f;
        }
        switch (m)
        {
            case Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar
                when ins.OpCount == 1 || ins.Op1Kind == OpKind.Immediate8:
            {
                int count = (ins.OpCount == 1 ? 1 : ins.Immediate8) & (size == 8 ? 0x3F : 0x1F);
                if (count == 0) break;
                f.Kind = FastOpKind.ShiftRegImm;
                f.Operation = (byte)(m is Mnemonic.Shr ? ShiftOperation.Shr : m is Mnemonic.Sar ? ShiftOperation.Sar : ShiftOperation.Shl);
                f.Immediate = (ulong)count;
                break;
            }
            case Mnemonic.Inc when ins.OpCount == 1: f.Kind = FastOpKind.IncReg; break;
            case Mnemonic.Not when ins.OpCount == 1: f.Kind = FastOpKind.NotReg; break;
            case Mnemonic.Movzx or Mnemonic.Movsx or Mnemonic.Movsxd when ins.Op1Kind == OpKind.Register
                && ins.Op1Register.IsGPR() && !RegisterTable.IsHigh8[(int)ins.Op1Register]:
                f.Kind = m == Mnemonic.Movzx ? FastOpKind.MovzxRegReg : FastOpKind.MovsxRegReg;
                f.Source = RegisterTable.GprIndex[(int)ins.Op1Register];
                f.Operation = RegisterTable.Size[(int)ins.Op1Register];
                break;
            case Mnemonic.Cmovo or Mnemonic.Cmovno or Mnemonic.Cmovb or Mnemonic.Cmovae or Mnemonic.Cmove or Mnemonic.Cmovne
                or Mnemonic.Cmovbe or Mnemonic.Cmova or Mnemonic.Cmovs or Mnemonic.Cmovns or Mnemonic.Cmovp or Mnemonic.Cmovnp
                or Mnemonic.Cmovl or Mnemonic.Cmovge or Mnemonic.Cmovle or Mnemonic.Cmovg
                when ins.Op1Kind == OpKind.Register && IsFullGpr(ins.Op1Register, out byte cs, out _):
                f.Kind = FastOpKind.CmovRegReg;
                f.Operation = (byte)ins.ConditionCode;
                f.Source = cs;
                break;
            case Mnemonic.Imul when ins.OpCount == 2 && ins.Op1Kind == OpKind.Register && IsFullGpr(ins.Op1Register, out byte ms, out _):
                f.Kind = FastOpKind.ImulRegReg;
                f.Source = ms;
                break;
            case Mnemonic.Imul when ins.OpCount == 3 && ins.Op1Kind == OpKind.Register && IsFullGpr(ins.Op1Register, out byte ms3, out _)
                && ins.Op2Kind is OpKind.Immediate8to32 or OpKind.Immediate8to64 or OpKind.Immediate32 or OpKind.Immediate32to64:
                f.Kind = FastOpKind.ImulRegRegImm;
                f.Source = ms3;
                f.Immediate = ins.GetImmediate(2);
                break;
            case Mnemonic.Dec when ins.OpCount == 1: f.Kind = FastOpKind.DecReg; break;
            case Mnemonic.Mov when ins.Op1Kind == OpKind.Register && IsFullGpr(ins.Op1Register, out byte s, out _):
                f.Kind = FastOpKind.MovRegReg;
                f.Source = s;
                break;
            case Mnemonic.Mov when ins.Op1Kind is OpKind.Immediate32 or OpKind.Immediate64 or OpKind.Immediate32to64:
                f.Kind = FastOpKind.MovRegImm;
                f.Immediate = ins.GetImmediate(1);
                break;
        }
        return f;
    }

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
