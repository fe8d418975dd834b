namespace Vessel.Cpu.Fpu;

/// <summary>Elementary functions on <see cref="Unpacked"/> values carried with a 128-bit significand
/// (about 120 correct bits), enough that one final rounding to the x87's 64 bits is within an ulp.
/// Only the x87 transcendental instructions use it.</summary>
internal static class ExtendedMath
{
    public static readonly Unpacked Pi = new() { Exp = 1, Sig = new UInt128(0xC90F_DAA2_2168_C234UL, 0xC4C6_628B_80DC_1CD1UL) };
    public static readonly Unpacked Ln2 = new() { Exp = -1, Sig = new UInt128(0xB172_17F7_D1CF_79ABUL, 0xC9E3_B398_03F2_F6AFUL) };
    public static readonly Unpacked One = new() { Exp = 0, Sig = (UInt128)1 << 127 };

    /// <summary>π/2 as the x87 reduces arguments with it: π to 66 significant bits, in units of 2^-65.</summary>
    private static readonly UInt128 HalfPi66 = new(0x3, 0x243F_6A88_85A3_08D3UL);

    private const int Bits = 124;

    public static Unpacked Scale(Unpacked a, int k) { if (a.Sig != 0) a.Exp += k; return a; }
    public static Unpacked Neg(Unpacked a) { a.Sign = !a.Sign; return a; }
    public static Unpacked Int(long n) => Unpacked.FromInteger(n < 0, (ulong)Math.Abs(n), 0);
    public static Unpacked Add(in Unpacked a, in Unpacked b) => SoftFloat.Add(a, b, SoftFloat.RoundNearest);
    public static Unpacked Sub(in Unpacked a, in Unpacked b) => SoftFloat.Add(a, Neg(b), SoftFloat.RoundNearest);

    /// <summary>The top 128 bits of the 256-bit product (truncated).</summary>
    public static Unpacked Mul(in Unpacked a, in Unpacked b)
    {
        bool sign = a.Sign ^ b.Sign;
        if (a.Sig == 0 || b.Sig == 0) return new Unpacked { Sign = sign };
        ulong ah = (ulong)(a.Sig >> 64), al = (ulong)a.Sig, bh = (ulong)(b.Sig >> 64), bl = (ulong)b.Sig;
        UInt128 hh = Math.BigMul(ah, bh), hl = Math.BigMul(ah, bl), lh = Math.BigMul(al, bh), ll = Math.BigMul(al, bl);
        UInt128 mid = (UInt128)(ulong)hl + (ulong)lh + (ll >> 64);
        UInt128 top = hh + (hl >> 64) + (lh >> 64) + (mid >> 64);
        ulong below = (ulong)mid;
        int e = a.Exp + b.Exp + 1;
        if ((top >> 127) == 0) { top = (top << 1) | (below >> 63); e--; }
        return new Unpacked { Sign = sign, Exp = e, Sig = top };
    }

    /// <summary>a / b to 128 bits (truncated); b non-zero.</summary>
    public static Unpacked Div(in Unpacked a, in Unpacked b)
    {
        bool sign = a.Sign ^ b.Sign;
        if (a.Sig == 0) return new Unpacked { Sign = sign };
        UInt128 r = a.Sig, d = b.Sig, q = 0;
        int e = a.Exp - b.Exp, loops = 128;
        if (r >= d) { r -= d; q = 1; loops = 127; }
        else e--;
        for (int i = 0; i < loops; i++)
        {
            bool carry = (r >> 127) != 0;
            r <<= 1;
            q <<= 1;
            if (carry || r >= d) { r -= d; q |= 1; }
        }
        return new Unpacked { Sign = sign, Exp = e, Sig = q };
    }

    public static Unpacked Sqrt(in Unpacked a)
    {
        if (a.Sig == 0) return a;
        int e = a.Exp;
        double m = (double)(ulong)(a.Sig >> 64) / 9223372036854775808.0; // [1, 2)
        if ((e & 1) != 0) { m *= 2; e--; }
        Unpacked y = FromDouble(Math.Sqrt(m));
        y.Exp += e / 2;
        for (int i = 0; i < 3; i++) y = Scale(Add(y, Div(a, y)), -1);
        return y;
    }

    private static Unpacked FromDouble(double d)
    {
        ulong bits = BitConverter.DoubleToUInt64Bits(d);
        ulong mant = (bits & 0xF_FFFF_FFFF_FFFFUL) | 1UL << 52;
        return Unpacked.FromInteger(false, mant, (int)((bits >> 52) & 0x7FF) - 1023 - 52);
    }

    private static bool Negligible(in Unpacked term, in Unpacked sum) => term.Sig == 0 || (sum.Sig != 0 && term.Exp < sum.Exp - Bits);

    /// <summary>sin r for |r| ≤ π/4.</summary>
    public static Unpacked SinSeries(in Unpacked r)
    {
        Unpacked r2 = Mul(r, r), term = r, sum = r;
        for (int n = 1; n < 60; n++)
        {
            term = Neg(Div(Mul(term, r2), Int((2L * n) * (2L * n + 1))));
            sum = Add(sum, term); // a negligible last term still tells the rounding which side the value lies
            if (Negligible(term, sum)) break;
        }
        return sum;
    }

    /// <summary>cos r for |r| ≤ π/4.</summary>
    public static Unpacked CosSeries(in Unpacked r)
    {
        Unpacked r2 = Mul(r, r), term = One, sum = One;
        for (int n = 1; n < 60; n++)
        {
            term = Neg(Div(Mul(term, r2), Int((2L * n - 1) * (2L * n))));
            sum = Add(sum, term); // a negligible last term still tells the rounding which side the value lies
            if (Negligible(term, sum)) break;
        }
        return sum;
    }

    /// <summary>Reduces |x| (finite, below 2^63) the way the x87 does: by the nearest multiple k of its 66-bit π/2,
    /// exactly. Returns r = |x| - k·π66/2 and k mod 4.</summary>
    public static Unpacked ReduceHalfPi(in Unpacked x, out int quadrant)
    {
        quadrant = 0;
        if (x.Exp < -1) { Unpacked a = x; a.Sign = false; return a; }
        UInt128 big = (x.Sig >> 64) << (x.Exp + 2); // units of 2^-65
        UInt128 q = big / HalfPi66, rem = big % HalfPi66;
        bool neg = false;
        if (rem * 2 > HalfPi66) { q++; rem = HalfPi66 - rem; neg = true; }
        quadrant = (int)(q & 3);
        return Unpacked.Normalize(neg, 127 - 65, rem);
    }

    /// <summary>atan t for 0 ≤ t ≤ 1: two argument halvings t/(1+√(1+t²)), then the Taylor series.</summary>
    public static Unpacked AtanUnit(in Unpacked t)
    {
        Unpacked u = t;
        for (int i = 0; i < 2; i++) u = Div(u, Add(One, Sqrt(Add(One, Mul(u, u)))));
        Unpacked u2 = Mul(u, u), p = u, sum = u;
        for (int n = 1; n < 80; n++)
        {
            p = Neg(Mul(p, u2));
            Unpacked term = Div(p, Int(2 * n + 1));
            sum = Add(sum, term); // a negligible last term still tells the rounding which side the value lies
            if (Negligible(term, sum)) break;
        }
        return Scale(sum, 2);
    }

    /// <summary>atan2(y, x) for finite non-zero |y|, |x|, in (-π, π].</summary>
    public static Unpacked Atan2(in Unpacked y, in Unpacked x)
    {
        Unpacked ay = y, ax = x;
        ay.Sign = ax.Sign = false;
        bool steep = ay.Exp > ax.Exp || (ay.Exp == ax.Exp && ay.Sig > ax.Sig);
        Unpacked a = steep ? Sub(Scale(Pi, -1), AtanUnit(Div(ax, ay))) : AtanUnit(Div(ay, ax));
        if (x.Sign) a = Sub(Pi, a);
        a.Sign = y.Sign;
        return a;
    }

    /// <summary>2·atanh z for |z| ≤ 0.18 (= ln((1+z)/(1-z))).</summary>
    private static Unpacked TwiceAtanh(in Unpacked z)
    {
        Unpacked z2 = Mul(z, z), p = z, sum = z;
        for (int n = 1; n < 80; n++)
        {
            p = Mul(p, z2);
            Unpacked term = Div(p, Int(2 * n + 1));
            sum = Add(sum, term); // a negligible last term still tells the rounding which side the value lies
            if (Negligible(term, sum)) break;
        }
        return Scale(sum, 1);
    }

    /// <summary>log2 a for positive finite a.</summary>
    public static Unpacked Log2(in Unpacked a)
    {
        int e = a.Exp;
        Unpacked m = a;
        m.Exp = 0; // [1, 2)
        if (m.Sig > new UInt128(0xB504_F333_F9DE_6484UL, 0)) { m.Exp = -1; e++; } // above √2: use m/2
        Unpacked z = Div(Sub(m, One), Add(m, One));
        Unpacked l = Div(TwiceAtanh(z), Ln2);
        return e == 0 ? l : Add(Int(e), l);
    }

    /// <summary>log2(1 + x) for x > -1; small |x| keeps its relative accuracy.</summary>
    public static Unpacked Log2OnePlus(in Unpacked x)
    {
        if (x.Exp < -2) return Div(TwiceAtanh(Div(x, Add(Int(2), x))), Ln2);
        return Log2(Add(One, x));
    }

    /// <summary>2^x - 1 for |x| ≤ 1 (series of e^y - 1 with y = x·ln 2).</summary>
    public static Unpacked Exp2Minus1(in Unpacked x)
    {
        Unpacked y = Mul(x, Ln2), term = y, sum = y;
        for (int n = 2; n < 80; n++)
        {
            term = Div(Mul(term, y), Int(n));
            sum = Add(sum, term); // a negligible last term still tells the rounding which side the value lies
            if (Negligible(term, sum)) break;
        }
        return sum;
    }
}
