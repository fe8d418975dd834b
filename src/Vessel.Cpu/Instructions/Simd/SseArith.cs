namespace Vessel.Cpu.Fpu;

/// <summary>SSE scalar floating-point semantics on raw bit patterns (single in the low 32 bits, or double):
/// NaN propagation, DAZ/FTZ, MXCSR rounding and exception flags. Flags accumulate into <c>flags</c>;
/// the caller decides about unmasked exceptions.</summary>
internal static class SseArith
{
    public const uint Daz = 0x40, Ftz = 0x8000, UnderflowMask = 0x800;
    /// <summary>The element-wise operations; MIN and MAX are not arithmetic but share its lane-by-lane shape.</summary>
    public enum Op { Add, Sub, Mul, Div, Sqrt, Min, Max }

    public const ulong DefaultNanDouble = 0xFFF8_0000_0000_0000UL;
    public const ulong DefaultNanSingle = 0xFFC0_0000UL;

    public static int Rc(uint mxcsr) => (int)(mxcsr >> 13) & 3;

    public static bool IsNaN(ulong x, bool dbl) => dbl
        ? (x & 0x7FF0_0000_0000_0000UL) == 0x7FF0_0000_0000_0000UL && (x & 0xF_FFFF_FFFF_FFFFUL) != 0
        : ((uint)x & 0x7F80_0000u) == 0x7F80_0000u && ((uint)x & 0x7F_FFFFu) != 0;

    public static bool IsSNaN(ulong x, bool dbl) => IsNaN(x, dbl) && (dbl ? (x & 0x8_0000_0000_0000UL) == 0 : (x & 0x40_0000UL) == 0);
    public static ulong Quiet(ulong x, bool dbl) => dbl ? x | 0x8_0000_0000_0000UL : (uint)x | 0x40_0000u;
    public static bool IsInf(ulong x, bool dbl) => dbl ? (x & ~SignBit(true)) == 0x7FF0_0000_0000_0000UL : ((uint)x & 0x7FFF_FFFFu) == 0x7F80_0000u;
    public static bool IsZero(ulong x, bool dbl) => (x & ~SignBit(dbl) & (dbl ? ulong.MaxValue : 0xFFFF_FFFFUL)) == 0;
    public static bool IsDenormal(ulong x, bool dbl) => dbl
        ? (x & 0x7FF0_0000_0000_0000UL) == 0 && (x & 0xF_FFFF_FFFF_FFFFUL) != 0
        : ((uint)x & 0x7F80_0000u) == 0 && ((uint)x & 0x7F_FFFFu) != 0;
    public static ulong SignBit(bool dbl) => dbl ? 0x8000_0000_0000_0000UL : 0x8000_0000UL;
    public static bool Negative(ulong x, bool dbl) => (x & SignBit(dbl)) != 0;
    public static ulong Infinity(bool neg, bool dbl) => (dbl ? 0x7FF0_0000_0000_0000UL : 0x7F80_0000UL) | (neg ? SignBit(dbl) : 0);
    public static ulong Zero(bool neg, bool dbl) => neg ? SignBit(dbl) : 0;

    /// <summary>DAZ turns denormal inputs into signed zeros; otherwise a denormal input raises DE.</summary>
    public static ulong DenormalInput(ulong x, bool dbl, uint mxcsr, ref uint flags)
    {
        if (!IsDenormal(x, dbl)) return x;
        if ((mxcsr & Daz) != 0) return x & SignBit(dbl);
        flags |= FpFlags.Denormal;
        return x;
    }

    public static Unpacked Unpack(ulong x, bool dbl)
    {
        bool sign = Negative(x, dbl);
        if (dbl)
        {
            int be = (int)(x >> 52) & 0x7FF;
            ulong frac = x & 0xF_FFFF_FFFF_FFFFUL;
            return be == 0 ? Unpacked.FromInteger(sign, frac, -1074) : Unpacked.FromInteger(sign, frac | 1UL << 52, be - 1075);
        }
        int bs = (int)(x >> 23) & 0xFF;
        ulong fs = x & 0x7F_FFFFUL;
        return bs == 0 ? Unpacked.FromInteger(sign, fs, -149) : Unpacked.FromInteger(sign, fs | 1UL << 23, bs - 150);
    }

    /// <summary>Rounds to the format per MXCSR, applying FTZ, and packs.</summary>
    public static ulong RoundPack(in Unpacked v, bool dbl, uint mxcsr, ref uint flags)
    {
        uint local = 0;
        Rounded r = SoftFloat.Round(v, dbl ? FpFormat.Double : FpFormat.Single, Rc(mxcsr), ref local);
        if ((mxcsr & UnderflowMask) == 0 && r.Tiny) local |= FpFlags.Underflow; // unmasked: tiny alone signals
        if (r.Tiny && (mxcsr & Ftz) != 0 && (mxcsr & UnderflowMask) != 0)
        {
            flags |= local | FpFlags.Underflow | FpFlags.Precision;
            return Zero(v.Sign, dbl);
        }
        flags |= local;
        return Pack(r, dbl);
    }

    public static ulong Pack(in Rounded r, bool dbl)
    {
        if (r.Infinite) return Infinity(r.Sign, dbl);
        ulong sign = r.Sign ? SignBit(dbl) : 0;
        if (r.Mant == 0) return sign;
        if (dbl)
            return (r.Mant >> 52) != 0 ? sign | (ulong)(r.Exp + 1023) << 52 | (r.Mant & 0xF_FFFF_FFFF_FFFFUL) : sign | r.Mant;
        return (r.Mant >> 23) != 0 ? sign | (ulong)(r.Exp + 127) << 23 | (r.Mant & 0x7F_FFFFUL) : sign | r.Mant;
    }

    public static ulong Arith(Op op, ulong a, ulong b, bool dbl, uint mxcsr, ref uint flags)
    {
        if (op >= Op.Min) return MinMax(op == Op.Max, a, b, dbl, mxcsr, ref flags);
        if (op == Op.Sqrt)
        {
            if (IsNaN(b, dbl)) { if (IsSNaN(b, dbl)) flags |= FpFlags.Invalid; return Quiet(b, dbl); }
        }
        else if (IsNaN(a, dbl) || IsNaN(b, dbl))
        {
            if (IsSNaN(a, dbl) || IsSNaN(b, dbl)) flags |= FpFlags.Invalid;
            return IsNaN(a, dbl) ? Quiet(a, dbl) : Quiet(b, dbl);
        }
        ulong defaultNan = dbl ? DefaultNanDouble : DefaultNanSingle;
        if (op == Op.Sqrt && Negative(b, dbl) && !IsZero(b, dbl) && !(IsDenormal(b, dbl) && (mxcsr & Daz) != 0))
        {
            flags |= FpFlags.Invalid;
            return defaultNan;
        }
        if (op == Op.Div)
        {
            // Zero-divide outranks the denormal-operand exception.
            uint none = 0;
            ulong fa = DenormalInput(a, dbl, mxcsr, ref none), fb = DenormalInput(b, dbl, mxcsr, ref none);
            if (IsZero(fb, dbl) && !IsZero(fa, dbl) && !IsInf(a, dbl))
            {
                flags |= FpFlags.DivideByZero;
                return Infinity(Negative(a, dbl) ^ Negative(b, dbl), dbl);
            }
        }
        if (op != Op.Sqrt) a = DenormalInput(a, dbl, mxcsr, ref flags);
        b = DenormalInput(b, dbl, mxcsr, ref flags);
        bool aInf = op != Op.Sqrt && IsInf(a, dbl), bInf = IsInf(b, dbl);
        bool aNeg = Negative(a, dbl), bNeg = Negative(b, dbl);
        switch (op)
        {
            case Op.Add:
            case Op.Sub:
                if (op == Op.Sub) bNeg = !bNeg;
                if (aInf && bInf && aNeg != bNeg) { flags |= FpFlags.Invalid; return defaultNan; }
                if (aInf) return a;
                if (bInf) return Infinity(bNeg, dbl);
                {
                    Unpacked ua = Unpack(a, dbl), ub = Unpack(b, dbl);
                    ub.Sign = bNeg;
                    return RoundPack(SoftFloat.Add(ua, ub, Rc(mxcsr)), dbl, mxcsr, ref flags);
                }
            case Op.Mul:
                if ((aInf && IsZero(b, dbl)) || (bInf && IsZero(a, dbl))) { flags |= FpFlags.Invalid; return defaultNan; }
                if (aInf || bInf) return Infinity(aNeg ^ bNeg, dbl);
                return RoundPack(SoftFloat.Mul(Unpack(a, dbl), Unpack(b, dbl)), dbl, mxcsr, ref flags);
            case Op.Div:
                if ((aInf && bInf) || (IsZero(a, dbl) && IsZero(b, dbl))) { flags |= FpFlags.Invalid; return defaultNan; }
                if (aInf) return Infinity(aNeg ^ bNeg, dbl);
                if (bInf) return Zero(aNeg ^ bNeg, dbl);
                if (IsZero(b, dbl)) { flags |= FpFlags.DivideByZero; return Infinity(aNeg ^ bNeg, dbl); }
                if (IsZero(a, dbl)) return Zero(aNeg ^ bNeg, dbl);
                return RoundPack(SoftFloat.Div(Unpack(a, dbl), Unpack(b, dbl)), dbl, mxcsr, ref flags);
            default:
                if (IsZero(b, dbl)) return b;
                if (bNeg) { flags |= FpFlags.Invalid; return defaultNan; }
                if (bInf) return b;
                return RoundPack(SoftFloat.Sqrt(Unpack(b, dbl)), dbl, mxcsr, ref flags);
        }
    }

    /// <summary>MINSS/MAXSS and packed forms: the second operand when either is NaN or both are zero.</summary>
    public static ulong MinMax(bool max, ulong a, ulong b, bool dbl, uint mxcsr, ref uint flags)
    {
        if (IsNaN(a, dbl) || IsNaN(b, dbl))
        {
            flags |= FpFlags.Invalid;
            return IsDenormal(b, dbl) && (mxcsr & Daz) != 0 ? b & SignBit(dbl) : b;
        }
        ulong da = DenormalInput(a, dbl, mxcsr, ref flags), db = DenormalInput(b, dbl, mxcsr, ref flags);
        int c = Compare(da, db, dbl);
        if (c == 0) return db;
        return (max ? c > 0 : c < 0) ? da : db;
    }

    /// <summary>-1, 0, 1 for ordered non-NaN operands (zeros equal).</summary>
    public static int Compare(ulong a, ulong b, bool dbl)
    {
        bool az = IsZero(a, dbl), bz = IsZero(b, dbl);
        if (az && bz) return 0;
        bool an = Negative(a, dbl), bn = Negative(b, dbl);
        ulong ma = a & ~SignBit(dbl), mb = b & ~SignBit(dbl);
        if (an != bn) return an ? -1 : 1;
        int c = ma.CompareTo(mb);
        return an ? -c : c;
    }

    /// <summary>CMPPS/CMPSS predicate 0-7 (EQ, LT, LE, UNORD, NEQ, NLT, NLE, ORD).</summary>
    public static bool ComparePredicate(int pred, ulong a, ulong b, bool dbl, uint mxcsr, ref uint flags)
    {
        bool unordered = IsNaN(a, dbl) || IsNaN(b, dbl);
        bool signalling = pred is 1 or 2 or 5 or 6;
        if (unordered)
        {
            if (signalling || IsSNaN(a, dbl) || IsSNaN(b, dbl)) flags |= FpFlags.Invalid;
            return pred is 3 or 4 or 5 or 6;
        }
        int c = Compare(DenormalInput(a, dbl, mxcsr, ref flags), DenormalInput(b, dbl, mxcsr, ref flags), dbl);
        return pred switch
        {
            0 => c == 0, 1 => c < 0, 2 => c <= 0, 3 => false,
            4 => c != 0, 5 => c >= 0, 6 => c > 0, _ => true,
        };
    }

    /// <summary>Converts to a 32- or 64-bit integer, rounding per MXCSR or truncating; out of range and NaN
    /// give the integer indefinite with IE.</summary>
    public static ulong ToInteger(ulong x, bool dbl, bool truncate, bool is64, uint mxcsr, ref uint flags)
    {
        ulong indefinite = is64 ? 0x8000_0000_0000_0000UL : 0x8000_0000UL;
        if (IsNaN(x, dbl) || IsInf(x, dbl)) { flags |= FpFlags.Invalid; return indefinite; }
        if (IsDenormal(x, dbl) && (mxcsr & Daz) != 0) return 0; // conversions to integer do not report DE
        if (IsZero(x, dbl)) return 0;
        Unpacked u = Unpack(x, dbl);
        uint local = 0;
        // Round to an integer: precision large enough that the integer unit is the last kept bit.
        int rc = truncate ? SoftFloat.RoundTowardZero : Rc(mxcsr);
        if (u.Exp >= 64) { flags |= FpFlags.Invalid; return indefinite; }
        Rounded r = SoftFloat.Round(u, new FpFormat(64, 63, 63), rc, ref local);
        // With Emin = Emax = 63 every value is "denormal" at exponent 63: Mant is the integer itself.
        ulong mag = r.Mant;
        if (r.Infinite) { flags |= FpFlags.Invalid; return indefinite; }
        ulong limit = is64 ? 0x8000_0000_0000_0000UL : 0x8000_0000UL;
        if (mag > limit || (mag == limit && !u.Sign) || (u.Exp >= 63 && !(u.Sign && mag == limit)))
        {
            flags |= FpFlags.Invalid;
            return indefinite;
        }
        flags |= local & FpFlags.Precision;
        ulong v = u.Sign ? (ulong)(-(long)mag) : mag;
        return is64 ? v : (uint)v;
    }

    /// <summary>Integer to single/double, rounding per MXCSR.</summary>
    public static ulong FromInteger(long value, bool dbl, uint mxcsr, ref uint flags)
    {
        bool neg = value < 0;
        ulong mag = neg ? (ulong)(-value) : (ulong)value;
        return RoundPack(Unpacked.FromInteger(neg, mag, 0), dbl, mxcsr, ref flags);
    }

    /// <summary>Double to single or single to double.</summary>
    public static ulong Convert(ulong x, bool fromDouble, uint mxcsr, ref uint flags)
    {
        bool toDouble = !fromDouble;
        if (IsNaN(x, fromDouble))
        {
            if (IsSNaN(x, fromDouble)) flags |= FpFlags.Invalid;
            bool neg = Negative(x, fromDouble);
            return fromDouble
                ? (neg ? 0x8000_0000UL : 0) | 0x7FC0_0000UL | ((x >> 29) & 0x3F_FFFFUL)
                : (neg ? 0x8000_0000_0000_0000UL : 0) | 0x7FF8_0000_0000_0000UL | ((x & 0x3F_FFFFUL) << 29);
        }
        if (IsInf(x, fromDouble)) return Infinity(Negative(x, fromDouble), toDouble);
        x = DenormalInput(x, fromDouble, mxcsr, ref flags);
        if (IsZero(x, fromDouble)) return Zero(Negative(x, fromDouble), toDouble);
        return RoundPack(Unpack(x, fromDouble), toDouble, mxcsr, ref flags);
    }

    /// <summary>ROUNDxx on one element: rounds to an integral value with rounding control <paramref name="rc"/>
    /// (0 nearest-even, 1 down, 2 up, 3 toward zero). DAZ applies; PE when the value changes.</summary>
    public static ulong RoundToIntegral(ulong x, bool dbl, int rc, uint mxcsr, ref uint flags)
    {
        if (IsNaN(x, dbl)) { if (IsSNaN(x, dbl)) flags |= FpFlags.Invalid; return Quiet(x, dbl); }
        if (IsDenormal(x, dbl) && (mxcsr & Daz) != 0) return x & SignBit(dbl);
        if (IsZero(x, dbl) || IsInf(x, dbl)) return x;
        int mantBits = dbl ? 52 : 23, bias = dbl ? 1023 : 127;
        int exp = (int)((x & ~SignBit(dbl)) >> mantBits) - bias;
        if (exp >= mantBits) return x;
        bool neg = Negative(x, dbl);
        ulong one = (ulong)bias << mantBits;
        if (exp < 0)
        {
            flags |= FpFlags.Precision;
            bool away = rc switch
            {
                SoftFloat.RoundNearest => exp == -1 && (x & ((1UL << mantBits) - 1)) != 0, // above one half
                SoftFloat.RoundDown => neg,
                SoftFloat.RoundUp => !neg,
                _ => false,
            };
            return (neg ? SignBit(dbl) : 0) | (away ? one : 0);
        }
        int fracBits = mantBits - exp;
        ulong fracMask = (1UL << fracBits) - 1, frac = x & fracMask, kept = x & ~fracMask;
        if (frac == 0) return x;
        flags |= FpFlags.Precision;
        ulong half = 1UL << (fracBits - 1);
        bool up = rc switch
        {
            SoftFloat.RoundNearest => frac > half || (frac == half && (kept >> fracBits & 1) != 0),
            SoftFloat.RoundDown => neg,
            SoftFloat.RoundUp => !neg,
            _ => false,
        };
        return up ? kept + (1UL << fracBits) : kept;
    }
}
