using System.Numerics;

namespace Vessel.Cpu.Fpu;

/// <summary>Exception flag bits, laid out as in MXCSR and the x87 status word.</summary>
internal static class FpFlags
{
    public const uint Invalid = 1, Denormal = 2, DivideByZero = 4, Overflow = 8, Underflow = 0x10, Precision = 0x20;
}

/// <summary>A binary format as rounding sees it: precision (significand bits with the integer bit) and the
/// normal exponent range.</summary>
internal readonly record struct FpFormat(int Precision, int Emin, int Emax)
{
    public static readonly FpFormat Single = new(24, -126, 127);
    public static readonly FpFormat Double = new(53, -1022, 1023);
    public static readonly FpFormat Extended = new(64, -16382, 16383);
}

/// <summary>An exact finite value: Sig/2^127 * 2^Exp with Sig's top bit set (or Sig = 0 for zero).
/// Bit 0 of Sig may be a "sticky" bit standing for non-zero bits below it.</summary>
internal struct Unpacked
{
    public bool Sign;
    public int Exp;
    public UInt128 Sig;

    public static Unpacked FromInteger(bool sign, ulong m, int e)
    {
        if (m == 0) return new Unpacked { Sign = sign };
        int lz = BitOperations.LeadingZeroCount(m);
        return new Unpacked { Sign = sign, Exp = e + 63 - lz, Sig = (UInt128)(m << lz) << 64 };
    }

    public static Unpacked Normalize(bool sign, int exp, UInt128 sig)
    {
        if (sig == 0) return new Unpacked { Sign = sign };
        int lz = (int)UInt128.LeadingZeroCount(sig);
        return new Unpacked { Sign = sign, Exp = exp - lz, Sig = sig << lz };
    }
}

/// <summary>A rounded finite or infinite result: Mant * 2^(Exp - (p-1)); denormals have Exp = Emin and
/// a Mant below 2^(p-1).</summary>
internal struct Rounded
{
    public bool Sign, Infinite, Tiny, RoundedUp;
    public int Exp;
    public ulong Mant;
}

/// <summary>Correctly rounded IEEE arithmetic on unpacked values, for every rounding mode, with the
/// x86 conventions (tininess detected after rounding).</summary>
internal static class SoftFloat
{
    public const int RoundNearest = 0, RoundDown = 1, RoundUp = 2, RoundTowardZero = 3;

    public static Rounded Round(in Unpacked v, FpFormat f, int rc, ref uint flags)
    {
        var r = new Rounded { Sign = v.Sign };
        if (v.Sig == 0) return r;
        int p = f.Precision;
        int d = v.Exp < f.Emin ? f.Emin - v.Exp : 0;
        UInt128 kept = RoundBits(v.Sig, 128 - p + d, v.Sign, rc, out bool inexact, out r.RoundedUp);
        int e = v.Exp;
        if (d > 0)
        {
            r.Tiny = true;
            if (v.Exp == f.Emin - 1 && RoundBits(v.Sig, 128 - p, v.Sign, rc, out _, out _) >> p != 0) r.Tiny = false;
            e = f.Emin;
        }
        else if (kept >> p != 0)
        {
            kept >>= 1;
            e++;
        }
        if (inexact) flags |= FpFlags.Precision;
        if (e > f.Emax)
        {
            flags |= FpFlags.Overflow | FpFlags.Precision;
            bool toInfinity = rc == RoundNearest || (rc == RoundUp && !v.Sign) || (rc == RoundDown && v.Sign);
            if (toInfinity) { r.Infinite = true; r.RoundedUp = true; return r; }
            r.RoundedUp = false;
            r.Exp = f.Emax;
            r.Mant = p == 64 ? ulong.MaxValue : (1UL << p) - 1;
            return r;
        }
        if (r.Tiny && inexact) flags |= FpFlags.Underflow;
        r.Exp = e;
        r.Mant = (ulong)kept;
        return r;
    }

    /// <summary>Sig shifted right by <paramref name="shift"/> (at least 1) and rounded per <paramref name="rc"/>.</summary>
    private static UInt128 RoundBits(UInt128 sig, int shift, bool sign, int rc, out bool inexact, out bool incremented)
    {
        UInt128 kept, rem, half;
        if (shift >= 128)
        {
            kept = 0;
            inexact = sig != 0;
            // Compare the discarded part with one half of the kept unit.
            int cmp = shift == 128 ? (sig > ((UInt128)1 << 127) ? 1 : sig == ((UInt128)1 << 127) ? 0 : -1) : -1;
            bool up = rc switch
            {
                RoundNearest => cmp > 0,
                RoundUp => inexact && !sign,
                RoundDown => inexact && sign,
                _ => false,
            };
            incremented = up;
            return up ? UInt128.One : UInt128.Zero;
        }
        kept = sig >> shift;
        rem = sig & (((UInt128)1 << shift) - 1);
        half = (UInt128)1 << (shift - 1);
        inexact = rem != 0;
        bool inc = rc switch
        {
            RoundNearest => rem > half || (rem == half && (kept & 1) != 0),
            RoundUp => inexact && !sign,
            RoundDown => inexact && sign,
            _ => false,
        };
        incremented = inc;
        return inc ? kept + 1 : kept;
    }

    /// <summary>Exact sum of two non-zero finite values (sticky-jammed), or an exact zero.</summary>
    public static Unpacked Add(in Unpacked a, in Unpacked b, int rc)
    {
        if (a.Sig == 0 && b.Sig == 0)
            return new Unpacked { Sign = a.Sign == b.Sign ? a.Sign : rc == RoundDown };
        if (a.Sig == 0) return b;
        if (b.Sig == 0) return a;
        bool aBigger = a.Exp > b.Exp || (a.Exp == b.Exp && a.Sig >= b.Sig);
        Unpacked x = aBigger ? a : b, y = aBigger ? b : a;
        UInt128 xs = x.Sig >> 2, ys = y.Sig >> 2;
        int diff = x.Exp - y.Exp;
        if (diff >= 126) ys = 1;
        else if (diff > 0)
        {
            bool lost = (ys & (((UInt128)1 << diff) - 1)) != 0;
            ys = (ys >> diff) | (lost ? 1u : 0u);
        }
        if (x.Sign == y.Sign) return Unpacked.Normalize(x.Sign, x.Exp + 2, xs + ys);
        UInt128 d = xs - ys;
        if (d == 0) return new Unpacked { Sign = rc == RoundDown };
        return Unpacked.Normalize(x.Sign, x.Exp + 2, d);
    }

    public static Unpacked Mul(in Unpacked a, in Unpacked b)
    {
        bool sign = a.Sign ^ b.Sign;
        if (a.Sig == 0 || b.Sig == 0) return new Unpacked { Sign = sign };
        ulong hi = Math.BigMul((ulong)(a.Sig >> 64), (ulong)(b.Sig >> 64), out ulong lo);
        bool sticky = (ulong)a.Sig != 0 || (ulong)b.Sig != 0; // only sticky-jammed operands have low bits
        UInt128 p = new UInt128(hi, lo | (sticky ? 1UL : 0));
        return Unpacked.Normalize(sign, a.Exp + b.Exp + 1, p);
    }

    /// <summary>a / b for non-zero finite operands.</summary>
    public static Unpacked Div(in Unpacked a, in Unpacked b)
    {
        bool sign = a.Sign ^ b.Sign;
        ulong ma = (ulong)(a.Sig >> 64), mb = (ulong)(b.Sig >> 64);
        int exp = a.Exp - b.Exp;
        UInt128 num;
        if (ma >= mb) num = (UInt128)ma << 63;
        else { num = (UInt128)ma << 64; exp--; }
        UInt128 q1 = num / mb, r1 = num % mb;
        UInt128 num2 = r1 << 64;
        UInt128 q2 = num2 / mb, r2 = num2 % mb;
        UInt128 sig = (q1 << 64) | q2 | (r2 != 0 ? 1u : 0u);
        return Unpacked.Normalize(sign, exp, sig);
    }

    /// <summary>Square root of a positive finite value.</summary>
    public static Unpacked Sqrt(in Unpacked a)
    {
        ulong m = (ulong)(a.Sig >> 64);
        int e = a.Exp - 63; // a = m * 2^e
        UInt128 radicand = m;
        if ((e & 1) != 0) { radicand <<= 1; e--; }
        // Digit-by-digit square root over 66 radicand bits followed by 70 zero bits: 68 result bits.
        UInt128 q = 0, r = 0;
        for (int i = 0; i < 68; i++)
        {
            int bitPos = 64 - 2 * i; // pairs from bit 65..64 downwards; negative positions are zeros
            UInt128 pair = bitPos >= 0 ? (radicand >> bitPos) & 3 : 0;
            r = (r << 2) | pair;
            UInt128 t = (q << 2) | 1;
            if (r >= t) { r -= t; q = (q << 1) | 1; }
            else q <<= 1;
        }
        // sqrt(radicand) = q * 2^-35 (+ sticky when r != 0)
        int lz = (int)UInt128.LeadingZeroCount(q);
        UInt128 sig = (q << lz) | (r != 0 ? 1u : 0u);
        return new Unpacked { Sign = false, Exp = 127 - lz - 35 + e / 2, Sig = sig };
    }
}
