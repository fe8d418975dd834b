using Iced.Intel;
using Vessel.Cpu.Fpu;
using M = Vessel.Cpu.Fpu.ExtendedMath;

namespace Vessel.Cpu;

/// <summary>F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS, FSINCOS: computed to about 120 bits by
/// <see cref="ExtendedMath"/> and rounded once per RC (precision control does not apply to them). FSIN, FCOS,
/// FPTAN and FSINCOS reduce their argument with the x87's own 66-bit π and leave |x| ≥ 2^63 alone with C2 set.</summary>
internal sealed partial class X87Unit
{
    private bool ExecuteX87Transcendental(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Fsin: X87Trig(TrigOp.Sin); return true;
            case Mnemonic.Fcos: X87Trig(TrigOp.Cos); return true;
            case Mnemonic.Fptan: X87Trig(TrigOp.Tan); return true;
            case Mnemonic.Fsincos: X87Trig(TrigOp.SinCos); return true;
            case Mnemonic.F2xm1: X87Exp2Minus1(); return true;
            case Mnemonic.Fpatan: X87TwoOperand(BinaryFunction.Atan2); return true;
            case Mnemonic.Fyl2x: X87TwoOperand(BinaryFunction.YLog2X); return true;
            case Mnemonic.Fyl2xp1: X87TwoOperand(BinaryFunction.YLog2XPlus1); return true;
        }
        return false;
    }

    private enum TrigOp { Sin, Cos, Tan, SinCos }

    /// <summary>An irrational result (never exact) rounded to 64 bits per RC.</summary>
    private Float80 RoundInexact(Unpacked u, ref uint flags)
    {
        u.Sig |= 1;
        return RoundToX87(u, ref flags, 64);
    }

    private void X87Trig(TrigOp op)
    {
        CheckX87Waiting();
        _fsw &= unchecked((ushort)~(C1 | C2));
        bool pushes = op is TrigOp.Tan or TrigOp.SinCos;
        if (!TryReadSt(0, out Float80 x))
        {
            if (X87Masked(FpFlags.Invalid)) { SetSt(0, x); if (pushes) X87Push(x); }
            return;
        }
        if (pushes && StValid(7))
        {
            RaiseX87(FpFlags.Invalid | StackFault);
            _fsw |= C1;
            if (X87Masked(FpFlags.Invalid)) { SetSt(0, Float80.Indefinite); X87Push(Float80.Indefinite); }
            return;
        }
        uint flags = 0;
        Float80 first, second = default;
        if (x.IsUnsupported || x.IsInf) { flags |= FpFlags.Invalid; first = second = Float80.Indefinite; }
        else if (x.IsNaN) { if (x.IsSNaN) flags |= FpFlags.Invalid; first = second = x.Quiet; }
        else if (x.IsZero)
        {
            first = op == TrigOp.Cos ? new Float80(Float80.IntegerBit, 0x3FFF) : x;
            second = op == TrigOp.Tan ? new Float80(Float80.IntegerBit, 0x3FFF) : new Float80(Float80.IntegerBit, 0x3FFF);
        }
        else
        {
            if (x.IsDenormal) flags |= FpFlags.Denormal;
            Unpacked u = x.Unpack();
            if (u.Exp >= 63) { _fsw |= C2; RaiseX87(flags); return; }
            Unpacked r = M.ReduceHalfPi(u, out int q);
            Unpacked s = M.SinSeries(r), c = M.CosSeries(r);
            // sin and cos of |x| by quadrant; sin (and tan) odd, cos even.
            Unpacked sin = (q & 1) == 0 ? s : c, cos = (q & 1) == 0 ? c : M.Neg(s);
            if ((q & 2) != 0) { sin = M.Neg(sin); cos = M.Neg(cos); }
            if (x.Sign) sin = M.Neg(sin);
            switch (op)
            {
                case TrigOp.Sin: first = RoundInexact(sin, ref flags); break;
                case TrigOp.Cos: first = RoundInexact(cos, ref flags); break;
                case TrigOp.Tan:
                    first = RoundInexact(M.Div(sin, cos), ref flags);
                    second = new Float80(Float80.IntegerBit, 0x3FFF);
                    break;
                default:
                    first = RoundInexact(sin, ref flags);
                    ushort c1 = (ushort)(_fsw & C1);
                    second = RoundInexact(cos, ref flags);
                    _fsw |= c1;
                    break;
            }
        }
        if (!X87Commit(flags)) return;
        SetSt(0, first);
        if (pushes) X87Push(second);
    }

    private void X87Exp2Minus1()
    {
        CheckX87Waiting();
        _fsw &= unchecked((ushort)~C1);
        if (!TryReadSt(0, out Float80 x)) { if (X87Masked(FpFlags.Invalid)) SetSt(0, x); return; }
        uint flags = 0;
        Float80 r;
        if (x.IsUnsupported) { flags |= FpFlags.Invalid; r = Float80.Indefinite; }
        else if (x.IsNaN) { if (x.IsSNaN) flags |= FpFlags.Invalid; r = x.Quiet; }
        else if (x.IsZero) r = x;
        else if (x.IsInf) r = x.Sign ? new Float80(Float80.IntegerBit, 0xBFFF) : x;
        else
        {
            if (x.IsDenormal) flags |= FpFlags.Denormal;
            Unpacked u = x.Unpack();
            // Outside [-1, 1] the result is undefined on hardware; clamp the work so it stays bounded.
            if (u.Exp > 0) u.Exp = 0;
            r = RoundInexact(M.Exp2Minus1(u), ref flags);
        }
        if (X87Commit(flags)) SetSt(0, r);
    }

    private enum BinaryFunction { Atan2, YLog2X, YLog2XPlus1 }

    /// <summary>FPATAN/FYL2X/FYL2XP1: f(ST(0), ST(1)) replaces ST(1), then the stack pops.</summary>
    private void X87TwoOperand(BinaryFunction f)
    {
        CheckX87Waiting();
        _fsw &= unchecked((ushort)~C1);
        if (!StValid(0) || !StValid(1))
        {
            RaiseX87(FpFlags.Invalid | StackFault);
            if (X87Masked(FpFlags.Invalid)) { SetSt(1, Float80.Indefinite); X87Pop(); }
            return;
        }
        Float80 x = St(0), y = St(1);
        uint flags = 0;
        Float80 r;
        if (x.IsUnsupported || y.IsUnsupported) { flags |= FpFlags.Invalid; r = Float80.Indefinite; }
        else if (x.IsNaN || y.IsNaN) { if (x.IsSNaN || y.IsSNaN) flags |= FpFlags.Invalid; r = PropagateNaN(x, y); }
        else
        {
            r = f switch
            {
                BinaryFunction.Atan2 => X87Atan2(x, y, ref flags),
                BinaryFunction.YLog2X => X87YLog2X(x, y, ref flags),
                _ => X87YLog2XPlus1(x, y, ref flags),
            };
            // An invalid operand combination outranks the denormal-operand exception.
            if ((flags & FpFlags.Invalid) == 0 && (x.IsDenormal || y.IsDenormal)) flags |= FpFlags.Denormal;
        }
        if (!X87Commit(flags)) return;
        SetSt(1, r);
        X87Pop();
    }

    /// <summary>FPATAN: atan2(ST(1), ST(0)).</summary>
    private Float80 X87Atan2(Float80 x, Float80 y, ref uint flags)
    {
        Unpacked angle;
        if (y.IsZero) angle = x.Sign ? M.Pi : default;
        else if (x.IsZero) angle = M.Scale(M.Pi, -1);
        else if (y.IsInf)
            angle = !x.IsInf ? M.Scale(M.Pi, -1) : x.Sign ? M.Scale(M.Mul(M.Pi, M.Int(3)), -2) : M.Scale(M.Pi, -2);
        else if (x.IsInf) angle = x.Sign ? M.Pi : default;
        else return RoundInexact(M.Atan2(y.Unpack(), x.Unpack()), ref flags);
        if (angle.Sig == 0) return Float80.SignedZero(y.Sign);
        angle.Sign = y.Sign;
        return RoundInexact(angle, ref flags);
    }

    /// <summary>FYL2X: ST(1) · log2 ST(0).</summary>
    private Float80 X87YLog2X(Float80 x, Float80 y, ref uint flags)
    {
        if (x.Sign && !x.IsZero) { flags |= FpFlags.Invalid; return Float80.Indefinite; }
        if (x.IsZero)
        {
            if (y.IsZero) { flags |= FpFlags.Invalid; return Float80.Indefinite; }
            if (!y.IsInf) flags |= FpFlags.DivideByZero;
            return Float80.Infinity(!y.Sign);
        }
        if (x.IsInf)
        {
            if (y.IsZero) { flags |= FpFlags.Invalid; return Float80.Indefinite; }
            return Float80.Infinity(y.Sign);
        }
        Unpacked ux = x.Unpack();
        bool isOne = x.Mant == Float80.IntegerBit && x.BiasedExp == 0x3FFF;
        if (isOne)
        {
            if (y.IsInf) { flags |= FpFlags.Invalid; return Float80.Indefinite; }
            return Float80.SignedZero(y.Sign);
        }
        bool below = ux.Exp < 0;
        if (y.IsInf) return Float80.Infinity(y.Sign ^ below);
        if (y.IsZero) return Float80.SignedZero(y.Sign ^ below);
        // A power of two has an exact logarithm: y·k is rounded like a product, not as an irrational value
        // (the host still reports it as inexact).
        if (ux.Sig == (UInt128)1 << 127)
        {
            Float80 exact = RoundToX87(M.Mul(y.Unpack(), M.Int(ux.Exp)), ref flags, 64);
            flags |= FpFlags.Precision;
            return exact;
        }
        return RoundInexact(M.Mul(y.Unpack(), M.Log2(ux)), ref flags);
    }

    /// <summary>FYL2XP1: ST(1) · log2(ST(0) + 1), for |ST(0)| below 1 - √2/2.</summary>
    private Float80 X87YLog2XPlus1(Float80 x, Float80 y, ref uint flags)
    {
        if (x.IsZero)
        {
            if (y.IsInf) { flags |= FpFlags.Invalid; return Float80.Indefinite; }
            return Float80.SignedZero(x.Sign ^ y.Sign);
        }
        if (x.IsInf)
        {
            if (x.Sign || y.IsZero) { flags |= FpFlags.Invalid; return Float80.Indefinite; }
            return Float80.Infinity(y.Sign);
        }
        Unpacked ux = x.Unpack();
        if (ux.Sign && ux.Exp >= 0) { flags |= FpFlags.Invalid; return Float80.Indefinite; }
        if (y.IsInf) return Float80.Infinity(y.Sign ^ x.Sign);
        if (y.IsZero) return Float80.SignedZero(y.Sign ^ x.Sign);
        return RoundInexact(M.Mul(y.Unpack(), M.Log2OnePlus(ux)), ref flags);
    }
}
