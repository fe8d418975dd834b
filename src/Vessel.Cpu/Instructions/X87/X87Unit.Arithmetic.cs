using Iced.Intel;
using Vessel.Cpu.Fpu;
using RflagsBits = Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>x87 register stack, loads/stores, arithmetic and comparisons on real 80-bit values through
/// <see cref="SoftFloat"/>, honouring precision and rounding control. Exceptions are handled with their
/// masked responses; an unmasked one sets ES/B in the status word (#MF is raised by the next waiting instruction, see X87Unit.Exceptions.cs).</summary>
internal sealed partial class X87Unit
{
    private const ushort C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000;
    private const uint StackFault = 0x40;

    private int PhysReg(int i) => (FpuTop + i) & 7;
    private bool StValid(int i) => (_ftw & (1 << PhysReg(i))) != 0;
    private Float80 St(int i) { int p = PhysReg(i); return new Float80(_fpMant[p], _fpExp[p]); }
    private void SetSt(int i, Float80 v) { int p = PhysReg(i); _fpMant[p] = v.Mant; _fpExp[p] = v.SignExp; _ftw |= (byte)(1 << p); }
    private void SetTop(int top) => _fsw = (ushort)((_fsw & ~0x3800) | ((top & 7) << 11));

    private int X87Rc => (_fcw >> 10) & 3;
    private int X87Precision => ((_fcw >> 8) & 3) switch { 0 => 24, 2 => 53, _ => 64 };

    /// <summary>Adds exception flags to the status word (summary ES/B when unmasked).</summary>
    private void RaiseX87(uint flags)
    {
        _fsw |= (ushort)(flags & 0x7F);
        if ((flags & ~(uint)_fcw & 0x3F) != 0) _fsw |= 0x8080;
    }

    private bool X87Masked(uint flag) => (_fcw & flag) != 0;

    private void X87Push(Float80 v)
    {
        int top = (FpuTop - 1) & 7;
        if ((_ftw & (1 << top)) != 0)
        {
            RaiseX87(FpFlags.Invalid | StackFault);
            _fsw |= C1;
            if (!X87Masked(FpFlags.Invalid)) return;
            v = Float80.Indefinite;
        }
        SetTop(top);
        SetSt(0, v);
    }

    private void X87Pop()
    {
        _ftw &= (byte)~(1 << FpuTop);
        SetTop(FpuTop + 1);
    }

    /// <summary>Reads ST(i); an empty register is a stack underflow (masked response: the indefinite).</summary>
    private bool TryReadSt(int i, out Float80 v)
    {
        if (StValid(i)) { v = St(i); return true; }
        RaiseX87(FpFlags.Invalid | StackFault);
        _fsw = (ushort)(_fsw & ~C1);
        v = Float80.Indefinite;
        return X87Masked(FpFlags.Invalid);
    }

    /// <summary>Bias adjustment of a result delivered with an unmasked overflow or underflow exception.</summary>
    private const int WrapBias = 24576;

    private Float80 RoundToX87(in Unpacked u, ref uint flags, int precision)
    {
        var format = new FpFormat(precision, -16382, 16383);
        uint local = 0;
        Rounded r = SoftFloat.Round(u, format, X87Rc, ref local);
        bool underflowTrap = r.Tiny && !X87Masked(FpFlags.Underflow);
        bool overflowTrap = (local & FpFlags.Overflow) != 0 && !X87Masked(FpFlags.Overflow);
        if (underflowTrap || overflowTrap)
        {
            // Unmasked: the exception is flagged even for an exact tiny result, and the register receives the
            // result with its exponent brought back into range by 2^±24576.
            Unpacked adjusted = u;
            adjusted.Exp += underflowTrap ? WrapBias : -WrapBias;
            local = 0;
            r = SoftFloat.Round(adjusted, format, X87Rc, ref local);
            bool stillOverflows = (local & FpFlags.Overflow) != 0;
            local &= FpFlags.Precision;
            local |= underflowTrap ? FpFlags.Underflow : FpFlags.Overflow;
            // Still out of range (FSCALE): zero, or infinity whatever the rounding control, as the host gives.
            if (r.Tiny) { r = new Rounded { Sign = u.Sign }; local |= FpFlags.Precision; }
            else if (stillOverflows) { r = new Rounded { Sign = u.Sign, Infinite = true, RoundedUp = true }; local |= FpFlags.Precision; }
        }
        flags |= local;
        if (r.RoundedUp && (local & FpFlags.Precision) != 0) _fsw |= C1;
        return Float80.Pack(r, precision);
    }

    // ---------------------------------------------------------------- loads and stores

    /// <summary>Memory operand as an 80-bit value (m32fp, m64fp, m80fp, or m16/m32/m64 int for FI* forms).</summary>
    private Float80 LoadX87Memory(ref Instruction ins, bool integer, ref uint flags)
    {
        int size = MemorySizeOf(ref ins);
        if (integer)
        {
            ulong raw = ReadMemoryOperand(ref ins, size);
            long v = size switch { 2 => (short)raw, 4 => (int)raw, _ => (long)raw };
            ulong mag = v < 0 ? (ulong)(-v) : (ulong)v;
            return RoundToX87(Unpacked.FromInteger(v < 0, mag, 0), ref flags, 64);
        }
        if (size == 10)
        {
            ulong m = ReadMemoryOperand(ref ins, 8);
            ushort se = (ushort)ReadVirtual(SegmentIndex(ins.MemorySegment), EffectiveAddress(ref ins) + 8, 2);
            return new Float80(m, se);
        }
        bool dbl = size == 8;
        ulong x = ReadMemoryOperand(ref ins, size);
        if (SseArith.IsNaN(x, dbl))
        {
            if (SseArith.IsSNaN(x, dbl)) flags |= FpFlags.Invalid;
            ulong frac = dbl ? x << 11 : x << 40;
            return new Float80(frac | Float80.IntegerBit | 0x4000_0000_0000_0000UL, (ushort)(SseArith.Negative(x, dbl) ? 0xFFFF : 0x7FFF));
        }
        if (SseArith.IsInf(x, dbl)) return Float80.Infinity(SseArith.Negative(x, dbl));
        if (SseArith.IsDenormal(x, dbl)) flags |= FpFlags.Denormal;
        return RoundToX87(SseArith.Unpack(x, dbl), ref flags, 64);
    }

    private void StoreX87Memory(ref Instruction ins, Float80 v, ref uint flags)
    {
        int size = MemorySizeOf(ref ins);
        if (size == 10)
        {
            WriteMemoryOperand(ref ins, 8, v.Mant);
            WriteVirtual(SegmentIndex(ins.MemorySegment), EffectiveAddress(ref ins) + 8, 2, v.SignExp);
            return;
        }
        bool dbl = size == 8;
        ulong bits;
        if (v.IsUnsupported) { flags |= FpFlags.Invalid; bits = dbl ? SseArith.DefaultNanDouble : SseArith.DefaultNanSingle; }
        else if (v.IsNaN)
        {
            if (v.IsSNaN) flags |= FpFlags.Invalid;
            ulong sign = v.Sign ? SseArith.SignBit(dbl) : 0;
            bits = dbl ? sign | 0x7FF8_0000_0000_0000UL | ((v.Mant >> 11) & 0xF_FFFF_FFFF_FFFFUL)
                       : sign | 0x7FC0_0000UL | ((v.Mant >> 40) & 0x7F_FFFFUL);
        }
        else if (v.IsInf) bits = SseArith.Infinity(v.Sign, dbl);
        else
        {
            uint local = 0;
            Rounded r = SoftFloat.Round(v.Unpack(), dbl ? FpFormat.Double : FpFormat.Single, X87Rc, ref local);
            if (r.Tiny && !X87Masked(FpFlags.Underflow)) local |= FpFlags.Underflow;
            if ((local & ~(uint)_fcw & (FpFlags.Overflow | FpFlags.Underflow)) != 0)
            {
                flags |= local & (FpFlags.Overflow | FpFlags.Underflow); // unmasked: nothing stored, no PE
                return;
            }
            flags |= local;
            if (r.RoundedUp && (local & FpFlags.Precision) != 0) _fsw |= C1;
            bits = SseArith.Pack(r, dbl);
        }
        if ((flags & ~(uint)_fcw & 0x3F & (FpFlags.Invalid | FpFlags.Overflow | FpFlags.Underflow)) != 0) return; // unmasked: no store
        WriteMemoryOperand(ref ins, size, bits);
    }

    /// <summary>FIST/FISTP/FISTTP: rounding per RC (or truncation); out of range gives the integer indefinite.</summary>
    private void StoreX87Integer(ref Instruction ins, Float80 v, bool truncate, ref uint flags)
    {
        int size = MemorySizeOf(ref ins);
        ulong indefinite = size switch { 2 => 0x8000UL, 4 => 0x8000_0000UL, _ => 0x8000_0000_0000_0000UL };
        ulong result;
        if (v.IsNaN || v.IsInf || v.IsUnsupported) { flags |= FpFlags.Invalid; result = indefinite; }
        else if (v.IsZero) result = 0;
        else
        {
            Unpacked u = v.Unpack();
            if (u.Exp >= 64) { flags |= FpFlags.Invalid; result = indefinite; }
            else
            {
                uint local = 0;
                Rounded r = SoftFloat.Round(u, new FpFormat(64, 63, 63), truncate ? SoftFloat.RoundTowardZero : X87Rc, ref local);
                ulong limit = indefinite;
                if (r.Infinite || r.Mant > limit || (r.Mant == limit && !u.Sign) || (u.Exp >= 63 && !(u.Sign && r.Mant == limit)))
                {
                    flags |= FpFlags.Invalid;
                    result = indefinite;
                }
                else
                {
                    flags |= local & FpFlags.Precision;
                    if (r.RoundedUp && (local & FpFlags.Precision) != 0) _fsw |= C1;
                    result = u.Sign ? (ulong)(-(long)r.Mant) : r.Mant;
                }
            }
        }
        if ((flags & FpFlags.Invalid) != 0 && !X87Masked(FpFlags.Invalid)) return;
        WriteMemoryOperand(ref ins, size, result);
    }

    // ---------------------------------------------------------------- arithmetic

    private enum X87Op { Add, Sub, SubR, Mul, Div, DivR }

    private static Float80 PropagateNaN(Float80 a, Float80 b)
    {
        if (!a.IsNaN) return b.Quiet;
        if (!b.IsNaN) return a.Quiet;
        if (a.IsSNaN != b.IsSNaN) return a.IsSNaN ? b.Quiet : a.Quiet;
        ulong ma = a.Mant & 0x3FFF_FFFF_FFFF_FFFFUL, mb = b.Mant & 0x3FFF_FFFF_FFFF_FFFFUL;
        if (ma != mb) return (ma > mb ? a : b).Quiet;
        return (a.Sign ? b : a).Quiet;
    }

    private Float80 X87Arith(X87Op op, Float80 a, Float80 b, ref uint flags)
    {
        if (op == X87Op.SubR) (a, b, op) = (b, a, X87Op.Sub);
        if (op == X87Op.DivR) (a, b, op) = (b, a, X87Op.Div);
        if (a.IsUnsupported || b.IsUnsupported) { flags |= FpFlags.Invalid; return Float80.Indefinite; }
        if (a.IsNaN || b.IsNaN)
        {
            if (a.IsSNaN || b.IsSNaN) flags |= FpFlags.Invalid;
            return PropagateNaN(a, b);
        }
        // Zero-divide outranks the denormal-operand exception.
        if ((a.IsDenormal || b.IsDenormal) && !(op == X87Op.Div && b.IsZero)) flags |= FpFlags.Denormal;
        bool bSign = op == X87Op.Sub ? !b.Sign : b.Sign;
        switch (op)
        {
            case X87Op.Add: case X87Op.Sub:
                if (a.IsInf && b.IsInf && a.Sign != bSign) { flags |= FpFlags.Invalid; return Float80.Indefinite; }
                if (a.IsInf) return a;
                if (b.IsInf) return Float80.Infinity(bSign);
                {
                    Unpacked ua = a.Unpack(), ub = b.Unpack();
                    ub.Sign = bSign;
                    Unpacked s = SoftFloat.Add(ua, ub, X87Rc);
                    return RoundToX87(s, ref flags, X87Precision);
                }
            case X87Op.Mul:
                if ((a.IsInf && b.IsZero) || (b.IsInf && a.IsZero)) { flags |= FpFlags.Invalid; return Float80.Indefinite; }
                if (a.IsInf || b.IsInf) return Float80.Infinity(a.Sign ^ b.Sign);
                return RoundToX87(SoftFloat.Mul(a.Unpack(), b.Unpack()), ref flags, X87Precision);
            default:
                if ((a.IsInf && b.IsInf) || (a.IsZero && b.IsZero)) { flags |= FpFlags.Invalid; return Float80.Indefinite; }
                if (a.IsInf) return Float80.Infinity(a.Sign ^ b.Sign);
                if (b.IsInf) return Float80.SignedZero(a.Sign ^ b.Sign);
                if (b.IsZero) { flags |= FpFlags.DivideByZero; return Float80.Infinity(a.Sign ^ b.Sign); }
                if (a.IsZero) return Float80.SignedZero(a.Sign ^ b.Sign);
                return RoundToX87(SoftFloat.Div(a.Unpack(), b.Unpack()), ref flags, X87Precision);
        }
    }

    private Float80 X87Sqrt(Float80 a, ref uint flags)
    {
        if (a.IsUnsupported) { flags |= FpFlags.Invalid; return Float80.Indefinite; }
        if (a.IsNaN) { if (a.IsSNaN) flags |= FpFlags.Invalid; return a.Quiet; }
        if (a.IsZero) return a;
        if (a.Sign) { flags |= FpFlags.Invalid; return Float80.Indefinite; }
        if (a.IsInf) return a;
        if (a.IsDenormal) flags |= FpFlags.Denormal;
        return RoundToX87(SoftFloat.Sqrt(a.Unpack()), ref flags, X87Precision);
    }

    /// <summary>Stores an arithmetic result unless an unmasked invalid/zero-divide/denormal suppresses it.</summary>
    private bool X87Commit(uint flags)
    {
        const uint pre = FpFlags.Invalid | FpFlags.Denormal | FpFlags.DivideByZero;
        if ((flags & pre & ~(uint)_fcw) == 0) { RaiseX87(flags); return true; }
        // An unmasked invalid, denormal or zero-divide exception stops the instruction before its result is
        // rounded: no later flags, no C1.
        _fsw &= unchecked((ushort)~C1);
        RaiseX87(flags & (pre | StackFault));
        return false;
    }

    /// <summary>-1, 0, 1, or 2 for unordered.</summary>
    private static int X87Compare(Float80 a, Float80 b, bool signalQuiet, ref uint flags)
    {
        if (a.IsNaN || b.IsNaN || a.IsUnsupported || b.IsUnsupported)
        {
            if (signalQuiet || a.IsSNaN || b.IsSNaN || a.IsUnsupported || b.IsUnsupported) flags |= FpFlags.Invalid;
            return 2;
        }
        if (a.IsDenormal || b.IsDenormal) flags |= FpFlags.Denormal;
        if (a.IsZero && b.IsZero) return 0;
        if (a.Sign != b.Sign) return a.Sign ? -1 : 1;
        int c = a.IsInf || b.IsInf
            ? (a.IsInf ? (b.IsInf ? 0 : 1) : -1)
            : a.BiasedExp != b.BiasedExp ? a.BiasedExp.CompareTo(b.BiasedExp) : a.Mant.CompareTo(b.Mant);
        return a.Sign ? -c : c;
    }
}
