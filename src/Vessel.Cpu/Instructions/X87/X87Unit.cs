using Iced.Intel;
using Vessel.Cpu.Fpu;
using RflagsBits = Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>Dispatch of the x87 data, arithmetic and comparison instructions.</summary>
internal sealed partial class X87Unit
{
    private static int StIndex(Register r) => r - Register.ST0;

    /// <summary>Executes an x87 instruction; false if <paramref name="ins"/> is not one.</summary>
    public bool Execute(ref Instruction ins) => ExecuteX87Control(ref ins) || ExecuteX87(ref ins);

    private bool ExecuteX87(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Fld: case Mnemonic.Fild: X87Load(ref ins); return true;
            case Mnemonic.Fst: case Mnemonic.Fstp: X87Store(ref ins); return true;
            case Mnemonic.Fist: case Mnemonic.Fistp: case Mnemonic.Fisttp: X87StoreInteger(ref ins); return true;
            case Mnemonic.Fadd: case Mnemonic.Faddp: case Mnemonic.Fiadd: return X87Binary(ref ins, X87Op.Add);
            case Mnemonic.Fsub: case Mnemonic.Fsubp: case Mnemonic.Fisub: return X87Binary(ref ins, X87Op.Sub);
            case Mnemonic.Fsubr: case Mnemonic.Fsubrp: case Mnemonic.Fisubr: return X87Binary(ref ins, X87Op.SubR);
            case Mnemonic.Fmul: case Mnemonic.Fmulp: case Mnemonic.Fimul: return X87Binary(ref ins, X87Op.Mul);
            case Mnemonic.Fdiv: case Mnemonic.Fdivp: case Mnemonic.Fidiv: return X87Binary(ref ins, X87Op.Div);
            case Mnemonic.Fdivr: case Mnemonic.Fdivrp: case Mnemonic.Fidivr: return X87Binary(ref ins, X87Op.DivR);
            case Mnemonic.Fsqrt: case Mnemonic.Frndint: X87UnaryRounded(ins.Mnemonic); return true;
            case Mnemonic.Fchs: case Mnemonic.Fabs: X87Sign(ins.Mnemonic); return true;
            case Mnemonic.Fxch: X87Exchange(ref ins); return true;
            case Mnemonic.Fld1: return X87Constant(new Float80(Float80.IntegerBit, 0x3FFF), 0);
            case Mnemonic.Fldz: return X87Constant(Float80.Zero, 0);
            case Mnemonic.Fldpi: return X87Constant(new Float80(0xC90F_DAA2_2168_C234UL, 0x4000), 3);
            case Mnemonic.Fldl2t: return X87Constant(new Float80(0xD49A_784B_CD1B_8AFEUL, 0x4000), 1);
            case Mnemonic.Fldl2e: return X87Constant(new Float80(0xB8AA_3B29_5C17_F0BBUL, 0x3FFF), 3);
            case Mnemonic.Fldlg2: return X87Constant(new Float80(0x9A20_9A84_FBCF_F798UL, 0x3FFD), 3);
            case Mnemonic.Fldln2: return X87Constant(new Float80(0xB172_17F7_D1CF_79ABUL, 0x3FFE), 3);
            case Mnemonic.Fcom: case Mnemonic.Fcomp: case Mnemonic.Fcompp: case Mnemonic.Fucom: case Mnemonic.Fucomp:
            case Mnemonic.Fucompp: case Mnemonic.Ficom: case Mnemonic.Ficomp: case Mnemonic.Ftst:
                return X87CompareStatus(ref ins);
            case Mnemonic.Fcomi: case Mnemonic.Fcomip: case Mnemonic.Fucomi: case Mnemonic.Fucomip: X87CompareEflags(ref ins); return true;
            case Mnemonic.Fxam: X87Examine(); return true;
            case Mnemonic.Ffree: case Mnemonic.Ffreep:
                CheckX87Waiting();
                _ftw &= (byte)~(1 << PhysReg(StIndex(ins.Op0Register)));
                if (ins.Mnemonic == Mnemonic.Ffreep) X87Pop();
                return true;
            case Mnemonic.Fincstp: CheckX87Waiting(); _fsw &= unchecked((ushort)~C1); SetTop(FpuTop + 1); return true;
            case Mnemonic.Fdecstp: CheckX87Waiting(); _fsw &= unchecked((ushort)~C1); SetTop(FpuTop - 1); return true;
            case Mnemonic.Fnop: CheckX87Waiting(); return true;
            case Mnemonic.Fcmovb: case Mnemonic.Fcmove: case Mnemonic.Fcmovbe: case Mnemonic.Fcmovu:
            case Mnemonic.Fcmovnb: case Mnemonic.Fcmovne: case Mnemonic.Fcmovnbe: case Mnemonic.Fcmovnu:
                X87ConditionalMove(ref ins); return true;
        }
        return ExecuteX87Special(ref ins);
    }

    /// <summary>FLD/FILD: a memory operand or ST(i) pushed.</summary>
    private void X87Load(ref Instruction ins)
    {
        CheckX87Waiting(); _fsw &= unchecked((ushort)~C1);
        uint flags = 0;
        Float80 v;
        if (ins.Op0Kind == OpKind.Memory) v = LoadX87Memory(ref ins, ins.Mnemonic == Mnemonic.Fild, ref flags);
        else if (!TryReadSt(StIndex(ins.Op0Register), out v)) return;
        RaiseX87(flags);
        if ((flags & FpFlags.Invalid & ~(uint)_fcw) != 0) return; // an unmasked denormal still loads
        X87Push(v);
    }

    /// <summary>FST/FSTP to memory or ST(i).</summary>
    private void X87Store(ref Instruction ins)
    {
        CheckX87Waiting(); _fsw &= unchecked((ushort)~C1);
        if (!TryReadSt(0, out Float80 v)) return;
        if (ins.Op0Kind == OpKind.Memory)
        {
            uint flags = 0;
            StoreX87Memory(ref ins, v, ref flags);
            RaiseX87(flags);
            if ((flags & ~(uint)_fcw & (FpFlags.Invalid | FpFlags.Overflow | FpFlags.Underflow)) != 0) return;
        }
        else SetSt(StIndex(ins.Op0Register), v);
        if (ins.Mnemonic == Mnemonic.Fstp) X87Pop();
    }

    /// <summary>FIST/FISTP/FISTTP.</summary>
    private void X87StoreInteger(ref Instruction ins)
    {
        CheckX87Waiting(); _fsw &= unchecked((ushort)~C1);
        if (!TryReadSt(0, out Float80 v)) return;
        uint flags = 0;
        StoreX87Integer(ref ins, v, ins.Mnemonic == Mnemonic.Fisttp, ref flags);
        RaiseX87(flags);
        if ((flags & FpFlags.Invalid) != 0 && !X87Masked(FpFlags.Invalid)) return;
        if (ins.Mnemonic != Mnemonic.Fist) X87Pop();
    }

    /// <summary>FSQRT and FRNDINT: ST(0) replaced by its rounded square root or integral value.</summary>
    private void X87UnaryRounded(Mnemonic mnemonic)
    {
        CheckX87Waiting(); _fsw &= unchecked((ushort)~C1);
        if (!TryReadSt(0, out Float80 v)) { SetSt(0, v); return; }
        uint flags = 0;
        Float80 r = mnemonic == Mnemonic.Fsqrt ? X87Sqrt(v, ref flags) : X87RoundToInteger(v, ref flags);
        if (X87Commit(flags)) SetSt(0, r);
    }

    /// <summary>FCHS and FABS: sign changes, exact and exception-free but for stack underflow.</summary>
    private void X87Sign(Mnemonic mnemonic)
    {
        CheckX87Waiting(); _fsw &= unchecked((ushort)~C1);
        if (!TryReadSt(0, out Float80 v)) { SetSt(0, v); return; }
        SetSt(0, mnemonic == Mnemonic.Fchs ? v.Negate : v.Abs);
    }

    private void X87Exchange(ref Instruction ins)
    {
        CheckX87Waiting(); _fsw &= unchecked((ushort)~C1);
        int i = ins.OpCount == 2 ? StIndex(ins.Op1Register) : 1;
        bool ok0 = TryReadSt(0, out Float80 a) | !StValid(0);
        bool okI = TryReadSt(i, out Float80 b) | !StValid(i);
        if (!ok0 || !okI) return;
        SetSt(0, b); SetSt(i, a);
    }

    /// <summary>FCOMI/FCOMIP/FUCOMI/FUCOMIP: the comparison into ZF, PF and CF.</summary>
    private void X87CompareEflags(ref Instruction ins)
    {
        CheckX87Waiting(); _fsw &= unchecked((ushort)~C1);
        int i = StIndex(ins.Op1Register);
        uint flags = 0;
        int c = 2;
        if (!StValid(0) || !StValid(i)) flags |= FpFlags.Invalid | StackFault;
        else c = X87Compare(St(0), St(i), ins.Mnemonic is Mnemonic.Fcomi or Mnemonic.Fcomip, ref flags);
        RaiseX87(flags);
        SetArithmeticFlags(c switch { 0 => RflagsBits.Zf, -1 => RflagsBits.Cf, 1 => 0, _ => RflagsBits.Zf | RflagsBits.Pf | RflagsBits.Cf });
        if ((flags & (FpFlags.Invalid | FpFlags.Denormal) & ~(uint)_fcw) != 0) return; // flags set, no pop
        if (ins.Mnemonic is Mnemonic.Fcomip or Mnemonic.Fucomip) X87Pop();
    }

    /// <summary>FXAM: the class of ST(0) in C3, C2, C0 and its sign in C1.</summary>
    private void X87Examine()
    {
        CheckX87Waiting();
        Float80 v = St(0);
        ushort cc = !StValid(0) ? (ushort)(C3 | C0)
            : v.IsUnsupported ? (ushort)0
            : v.IsNaN ? C0
            : v.IsInf ? (ushort)(C2 | C0)
            : v.IsZero ? C3
            : v.IsDenormal ? (ushort)(C3 | C2)
            : C2;
        _fsw = (ushort)((_fsw & ~(C0 | C1 | C2 | C3)) | cc | (v.Sign ? C1 : 0));
    }

    /// <summary>FCMOVcc: ST(0) = ST(i) when the EFLAGS condition holds.</summary>
    private void X87ConditionalMove(ref Instruction ins)
    {
        CheckX87Waiting(); _fsw &= unchecked((ushort)~C1);
        bool cond = ins.Mnemonic switch
        {
            Mnemonic.Fcmovb => Cpu.GetCf(), Mnemonic.Fcmove => Cpu.GetZf(), Mnemonic.Fcmovbe => Cpu.GetCf() || Cpu.GetZf(), Mnemonic.Fcmovu => Cpu.GetPf(),
            Mnemonic.Fcmovnb => !Cpu.GetCf(), Mnemonic.Fcmovne => !Cpu.GetZf(), Mnemonic.Fcmovnbe => !Cpu.GetCf() && !Cpu.GetZf(), _ => !Cpu.GetPf(),
        };
        int i = StIndex(ins.Op1Register);
        if (!StValid(0) || !StValid(i)) { TryReadSt(StValid(0) ? i : 0, out Float80 ind); if (X87Masked(FpFlags.Invalid)) SetSt(0, ind); return; }
        if (cond) SetSt(0, St(i));
    }

    private bool X87Constant(Float80 truncated, int roundUpWhen)
    {
        CheckX87Waiting(); _fsw &= unchecked((ushort)~C1);
        // roundUpWhen: 0 exact; 1 the discarded bits are below one half (up only for RC=up);
        // 3 above one half (up for nearest and up).
        int rc = X87Rc;
        bool up = roundUpWhen switch
        {
            1 => rc == SoftFloat.RoundUp,
            3 => rc is SoftFloat.RoundNearest or SoftFloat.RoundUp,
            _ => false,
        };
        X87Push(up ? new Float80(truncated.Mant + 1, truncated.SignExp) : truncated);
        return true;
    }

    private bool X87Binary(ref Instruction ins, X87Op op)
    {
        CheckX87Waiting(); _fsw &= unchecked((ushort)~C1);
        bool pop = ins.Mnemonic is Mnemonic.Faddp or Mnemonic.Fsubp or Mnemonic.Fsubrp or Mnemonic.Fmulp or Mnemonic.Fdivp or Mnemonic.Fdivrp;
        uint flags = 0;
        int dest;
        Float80 a, b;
        if (ins.OpCount == 1 && ins.Op0Kind == OpKind.Memory)
        {
            dest = 0;
            bool integer = ins.Mnemonic is Mnemonic.Fiadd or Mnemonic.Fisub or Mnemonic.Fisubr or Mnemonic.Fimul or Mnemonic.Fidiv or Mnemonic.Fidivr;
            b = LoadX87Memory(ref ins, integer, ref flags);
            if (!TryReadSt(0, out a)) { SetSt(0, a); return true; }
        }
        else
        {
            dest = ins.OpCount == 2 ? StIndex(ins.Op0Register) : 1;
            int src = ins.OpCount == 2 ? StIndex(ins.Op1Register) : 0;
            bool okA = TryReadSt(dest, out a), okB = TryReadSt(src, out b);
            if (!StValid(dest) || !StValid(src))
            {
                if (okA && okB) { SetSt(dest, Float80.Indefinite); if (pop) X87Pop(); }
                return true;
            }
        }
        Float80 r = X87Arith(op, a, b, ref flags);
        if (!X87Commit(flags)) return true;
        SetSt(dest, r);
        if (pop) X87Pop();
        return true;
    }

    private bool X87CompareStatus(ref Instruction ins)
    {
        CheckX87Waiting(); _fsw &= unchecked((ushort)~C1);
        uint flags = 0;
        Float80 b;
        int pops = ins.Mnemonic switch { Mnemonic.Fcomp or Mnemonic.Fucomp or Mnemonic.Ficomp => 1, Mnemonic.Fcompp or Mnemonic.Fucompp => 2, _ => 0 };
        bool quietOk = ins.Mnemonic is Mnemonic.Fucom or Mnemonic.Fucomp or Mnemonic.Fucompp;
        if (ins.Mnemonic == Mnemonic.Ftst) b = Float80.Zero;
        else if (ins.Op0Kind == OpKind.Memory) b = LoadX87Memory(ref ins, ins.Mnemonic is Mnemonic.Ficom or Mnemonic.Ficomp, ref flags);
        else
        {
            int i = ins.OpCount == 2 ? StIndex(ins.Op1Register) : ins.OpCount == 1 ? StIndex(ins.Op0Register) : 1;
            if (!StValid(i)) { RaiseX87(FpFlags.Invalid | StackFault); SetCompareCodes(2); if (X87Masked(FpFlags.Invalid)) for (int p = 0; p < pops; p++) X87Pop(); return true; }
            b = St(i);
        }
        if (!StValid(0)) { RaiseX87(FpFlags.Invalid | StackFault); SetCompareCodes(2); if (X87Masked(FpFlags.Invalid)) for (int p = 0; p < pops; p++) X87Pop(); return true; }
        int c = X87Compare(St(0), b, !quietOk, ref flags);
        RaiseX87(flags);
        SetCompareCodes(c);
        if ((flags & FpFlags.Invalid & ~(uint)_fcw) != 0) return true; // codes set, no pop
        if ((flags & FpFlags.Denormal & ~(uint)_fcw) != 0) return true; // codes set, no pop
        for (int p = 0; p < pops; p++) X87Pop();
        return true;
    }

    private void SetCompareCodes(int c)
    {
        ushort cc = c switch { 0 => C3, -1 => C0, 1 => 0, _ => (ushort)(C3 | C2 | C0) };
        _fsw = (ushort)((_fsw & ~(C0 | C2 | C3)) | cc);
    }

    private Float80 X87RoundToInteger(Float80 v, ref uint flags)
    {
        if (v.IsUnsupported) { flags |= FpFlags.Invalid; return Float80.Indefinite; }
        if (v.IsNaN) { if (v.IsSNaN) flags |= FpFlags.Invalid; return v.Quiet; }
        if (v.IsInf || v.IsZero) return v;
        if (v.IsDenormal) flags |= FpFlags.Denormal;
        Unpacked u = v.Unpack();
        if (u.Exp >= 63) return v;
        Rounded r = SoftFloat.Round(u, new FpFormat(64, 63, 63), X87Rc, ref flags);
        flags &= ~FpFlags.Underflow;
        if (r.RoundedUp && (flags & FpFlags.Precision) != 0) _fsw |= C1;
        if (r.Mant == 0) return Float80.SignedZero(v.Sign);
        return RoundToX87(Unpacked.FromInteger(v.Sign, r.Mant, 0), ref flags, 64);
    }
}
