using Iced.Intel;
using Vessel.Cpu.Fpu;

namespace Vessel.Cpu;

/// <summary>FPREM, FPREM1, FSCALE, FXTRACT and the packed-BCD load/store FBLD/FBSTP.</summary>
internal sealed partial class X87Unit
{
    private bool ExecuteX87Special(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Fprem: X87Remainder(false); return true;
            case Mnemonic.Fprem1: X87Remainder(true); return true;
            case Mnemonic.Fscale: X87Scale(); return true;
            case Mnemonic.Fxtract: X87Extract(); return true;
            case Mnemonic.Fbld: X87LoadBcd(ref ins); return true;
            case Mnemonic.Fbstp: X87StoreBcd(ref ins); return true;
        }
        return ExecuteX87Transcendental(ref ins) || ExecuteX87Environment(ref ins);
    }

    /// <summary>Two-operand instructions on ST(0) and ST(1) whose result replaces ST(0): reads both, or applies
    /// the stack-underflow response. False when the instruction is over.</summary>
    private bool TryReadSt0St1(out Float80 a, out Float80 b)
    {
        a = b = Float80.Indefinite;
        if (StValid(0) && StValid(1)) { a = St(0); b = St(1); return true; }
        RaiseX87(FpFlags.Invalid | StackFault);
        _fsw = (ushort)(_fsw & ~C1);
        if (X87Masked(FpFlags.Invalid)) SetSt(0, Float80.Indefinite);
        return false;
    }

    /// <summary>FPREM (quotient truncated) / FPREM1 (quotient rounded to nearest): the exact remainder when the
    /// exponents differ by less than 64, else a partial reduction (C2 set) as the hardware does it.</summary>
    private void X87Remainder(bool ieee)
    {
        CheckX87Waiting();
        _fsw &= unchecked((ushort)~(C0 | C1 | C2 | C3));
        if (!TryReadSt0St1(out Float80 a, out Float80 b)) return;
        uint flags = 0;
        Float80 r;
        ulong q = 0;
        bool partial = false;
        if (a.IsUnsupported || b.IsUnsupported) { flags |= FpFlags.Invalid; r = Float80.Indefinite; }
        else if (a.IsNaN || b.IsNaN) { if (a.IsSNaN || b.IsSNaN) flags |= FpFlags.Invalid; r = PropagateNaN(a, b); }
        else if (a.IsInf || b.IsZero) { flags |= FpFlags.Invalid; r = Float80.Indefinite; }
        else
        {
            if (a.IsDenormal || b.IsDenormal) flags |= FpFlags.Denormal;
            if (a.IsZero) r = a;
            else if (b.IsInf) r = RoundToX87(a.Unpack(), ref flags, 64); // a itself; a denormal underflows when unmasked
            else r = Remainder(a, b, ieee, ref flags, out q, out partial);
        }
        if (!X87Commit(flags)) return;
        SetSt(0, r);
        ushort cc = partial ? C2 : (ushort)(((q & 4) != 0 ? C0 : 0) | ((q & 2) != 0 ? C3 : 0) | ((q & 1) != 0 ? C1 : 0));
        _fsw |= cc;
    }

    private Float80 Remainder(Float80 a, Float80 b, bool ieee, ref uint flags, out ulong quotient, out bool partial)
    {
        Unpacked ua = a.Unpack(), ub = b.Unpack();
        ulong ma = (ulong)(ua.Sig >> 64), mb = (ulong)(ub.Sig >> 64);
        int d = ua.Exp - ub.Exp;
        quotient = 0;
        partial = false;
        if (d >= 64)
        {
            // Partial reduction: the quotient keeps N = 32 + d mod 32 bits, the remainder stays exact.
            int n = 32 + (d & 31);
            UInt128 num = (UInt128)ma << n;
            quotient = (ulong)(num / mb);
            UInt128 rem = num % mb;
            partial = true;
            return RoundToX87(Unpacked.Normalize(a.Sign, ua.Exp - n, rem << 64), ref flags, 64);
        }
        if (d < -1 || (d == -1 && !ieee)) return RoundToX87(ua, ref flags, 64); // a itself (exact)
        // Both mantissas are counted in units of half an ulp of b: A = ma * 2^(d+1), B = mb * 2.
        UInt128 bigA = (UInt128)ma << (d + 1), bigB = (UInt128)mb << 1;
        UInt128 qq = bigA / bigB, r = bigA % bigB;
        bool sign = a.Sign;
        if (ieee && (r * 2 > bigB || (r * 2 == bigB && (qq & 1) != 0)))
        {
            qq++;
            r = bigB - r;
            sign = !sign;
        }
        quotient = (ulong)qq;
        if (r == 0) return Float80.SignedZero(a.Sign);
        // The value is r * 2^(ub.Exp - 63 - 1); Normalize takes the exponent of bit 127.
        return RoundToX87(Unpacked.Normalize(sign, ub.Exp - 64 + 127, r), ref flags, 64);
    }

    /// <summary>FSCALE: ST(0) * 2^trunc(ST(1)).</summary>
    private void X87Scale()
    {
        CheckX87Waiting();
        _fsw &= unchecked((ushort)~C1);
        if (!TryReadSt0St1(out Float80 a, out Float80 b)) return;
        uint flags = 0;
        Float80 r;
        if (a.IsUnsupported || b.IsUnsupported) { flags |= FpFlags.Invalid; r = Float80.Indefinite; }
        else if (a.IsNaN || b.IsNaN) { if (a.IsSNaN || b.IsSNaN) flags |= FpFlags.Invalid; r = PropagateNaN(a, b); }
        else if (b.IsInf)
        {
            if ((a.IsZero && !b.Sign) || (a.IsInf && b.Sign)) { flags |= FpFlags.Invalid; r = Float80.Indefinite; }
            else
            {
                if (a.IsDenormal) flags |= FpFlags.Denormal;
                r = a.IsZero || a.IsInf ? a : b.Sign ? Float80.SignedZero(a.Sign) : Float80.Infinity(a.Sign);
            }
        }
        else
        {
            if (a.IsDenormal || b.IsDenormal) flags |= FpFlags.Denormal;
            if (a.IsZero || a.IsInf) r = a;
            else
            {
                int scale = TruncatedScale(b);
                Unpacked u = a.Unpack();
                u.Exp += scale;
                r = RoundToX87(u, ref flags, 64); // precision control does not apply
            }
        }
        if (X87Commit(flags)) SetSt(0, r);
    }

    /// <summary>trunc(b) clamped to a range beyond any finite result's need.</summary>
    private static int TruncatedScale(Float80 b)
    {
        if (b.IsZero || b.IsDenormal) return 0;
        int e = b.BiasedExp - 16383;
        if (e < 0) return 0;
        if (e >= 20) return b.Sign ? -(1 << 20) : 1 << 20;
        int v = (int)(b.Mant >> (63 - e));
        return b.Sign ? -v : v;
    }

    /// <summary>FXTRACT: ST(0) becomes its exponent and the significand is pushed.</summary>
    private void X87Extract()
    {
        CheckX87Waiting();
        _fsw &= unchecked((ushort)~C1);
        if (!TryReadSt(0, out Float80 a)) { SetSt(0, a); X87Push(a); return; }
        if (StValid(7))
        {
            RaiseX87(FpFlags.Invalid | StackFault);
            _fsw |= C1;
            if (X87Masked(FpFlags.Invalid)) { SetSt(0, Float80.Indefinite); X87Push(Float80.Indefinite); }
            return;
        }
        uint flags = 0;
        Float80 exp, sig;
        if (a.IsUnsupported) { flags |= FpFlags.Invalid; exp = sig = Float80.Indefinite; }
        else if (a.IsNaN) { if (a.IsSNaN) flags |= FpFlags.Invalid; exp = sig = a.Quiet; }
        else if (a.IsInf) { exp = Float80.Infinity(false); sig = a; }
        else if (a.IsZero) { flags |= FpFlags.DivideByZero; exp = Float80.Infinity(true); sig = a; }
        else
        {
            if (a.IsDenormal) flags |= FpFlags.Denormal;
            Unpacked u = a.Unpack();
            int e = u.Exp;
            exp = RoundToX87(Unpacked.FromInteger(e < 0, (ulong)Math.Abs((long)e), 0), ref flags, 64);
            sig = new Float80((ulong)(u.Sig >> 64), (ushort)((a.Sign ? 0x8000 : 0) | 0x3FFF));
        }
        if (!X87Commit(flags)) return;
        SetSt(0, exp);
        X87Push(sig);
    }

    private void X87LoadBcd(ref Instruction ins)
    {
        CheckX87Waiting();
        _fsw &= unchecked((ushort)~C1);
        ulong lo = ReadMemoryOperand(ref ins, 8);
        ushort hi = (ushort)ReadVirtual(SegmentIndex(ins.MemorySegment), EffectiveAddress(ref ins) + 8, 2);
        ulong value = 0;
        for (int i = 8; i >= 0; i--)
        {
            int b = i == 8 ? hi & 0xFF : (int)(lo >> (8 * i)) & 0xFF;
            value = value * 100 + (ulong)((b >> 4) * 10 + (b & 15));
        }
        bool sign = (hi & 0x8000) != 0;
        uint flags = 0;
        X87Push(value == 0 ? Float80.SignedZero(sign) : RoundToX87(Unpacked.FromInteger(sign, value, 0), ref flags, 64));
    }

    private void X87StoreBcd(ref Instruction ins)
    {
        CheckX87Waiting();
        _fsw &= unchecked((ushort)~C1);
        if (!TryReadSt(0, out Float80 v) && !X87Masked(FpFlags.Invalid)) return;
        uint flags = 0;
        ulong lo, hi;
        const ulong indefiniteLo = 0xC000_0000_0000_0000UL, indefiniteHi = 0xFFFF;
        if (!StValid(0)) { lo = indefiniteLo; hi = indefiniteHi; }
        else if (v.IsNaN || v.IsInf || v.IsUnsupported) { flags |= FpFlags.Invalid; lo = indefiniteLo; hi = indefiniteHi; }
        else
        {
            ulong mag = 0; // a denormal operand does not raise DE here (as on hardware)
            bool ok = true;
            if (!v.IsZero)
            {
                Unpacked u = v.Unpack();
                if (u.Exp >= 60) ok = false;
                else
                {
                    uint local = 0;
                    Rounded r = SoftFloat.Round(u, new FpFormat(64, 63, 63), X87Rc, ref local);
                    if (r.Mant > 999_999_999_999_999_999UL) ok = false;
                    else
                    {
                        flags |= local & FpFlags.Precision;
                        if (r.RoundedUp && (local & FpFlags.Precision) != 0) _fsw |= C1;
                        mag = r.Mant;
                    }
                }
            }
            if (!ok) { flags |= FpFlags.Invalid; lo = indefiniteLo; hi = indefiniteHi; _fsw &= unchecked((ushort)~C1); }
            else
            {
                lo = 0;
                for (int i = 0; i < 8; i++) { lo |= (mag % 10 | (mag / 10 % 10) << 4) << (8 * i); mag /= 100; }
                hi = (mag % 10 | (mag / 10 % 10) << 4) | (v.Sign ? 0x8000UL : 0);
            }
        }
        RaiseX87(flags);
        if ((flags & ~(uint)_fcw & (FpFlags.Invalid | FpFlags.Denormal)) != 0) return;
        WriteMemoryOperand(ref ins, 8, lo);
        WriteVirtual(SegmentIndex(ins.MemorySegment), EffectiveAddress(ref ins) + 8, 2, hi);
        X87Pop();
    }
}
