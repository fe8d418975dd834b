using System.Numerics;
using System.Runtime.CompilerServices;
using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;
using FlagOp = Vessel.Cpu.X86Cpu.FlagOp;

namespace Vessel.Cpu;

/// <summary>Lazy arithmetic flags over the state block: the common flag-setting instructions record their operation,
/// operands and result (<see cref="CpuState.FlagOp"/>...); CF/ZF/SF/OF/AF/PF are computed only when something reads
/// them, and <see cref="MaterializeFlags"/> folds them into <see cref="CpuState.Rflags"/>. Static over a reference
/// to the block, so the interpreter's calls cost what they did as methods of the CPU, and compiled code, which
/// writes the same fields, sees one layout.</summary>
internal static class LazyFlags
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SizeMask(int size) => size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SignBit(int size) => 1UL << (size * 8 - 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetLazy(ref CpuState s, FlagOp op, int size, ulong a, ulong b, ulong result)
    {
        s.FlagOp = op; s.FlagSize = size; s.FlagA = a; s.FlagB = b; s.FlagResult = result;
    }

    public static void SetLazyAdcSbb(ref CpuState s, FlagOp op, int size, ulong a, ulong b, ulong result, bool carryIn)
    {
        // The carry-in is remembered in the CF bit of s.Rflags, which Adc/Sbb flag evaluation reads.
        s.Rflags = carryIn ? s.Rflags | Cf : s.Rflags & ~Cf;
        SetLazy(ref s, op, size, a, b, result);
    }

    public static void SetLazyIncDec(ref CpuState s, FlagOp op, int size, ulong a, ulong result)
    {
        bool cf = GetCf(ref s);
        s.Rflags = cf ? s.Rflags | Cf : s.Rflags & ~Cf;
        SetLazy(ref s, op, size, a, 1, result);
    }

    /// <summary>Sets the six arithmetic flags from an eagerly computed value.</summary>
    public static void SetArithmeticFlags(ref CpuState s, ulong flags)
    {
        s.Rflags = (s.Rflags & ~Arithmetic) | (flags & Arithmetic);
        s.FlagOp = FlagOp.None;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Parity(ulong result) => (BitOperations.PopCount((uint)(result & 0xFF)) & 1) == 0 ? Pf : 0;

    /// <summary>Standard ZF/SF/PF for a result of the given size.</summary>
    public static ulong ResultFlags(ulong result, int size)
    {
        ulong r = result & SizeMask(size);
        return (r == 0 ? Zf : 0) | ((r & SignBit(size)) != 0 ? Sf : 0) | Parity(r);
    }

    public static bool GetCf(ref CpuState s)
    {
        ulong mask = SizeMask(s.FlagSize);
        ulong a = s.FlagA & mask, b = s.FlagB & mask, r = s.FlagResult & mask;
        return s.FlagOp switch
        {
            FlagOp.None or FlagOp.Inc or FlagOp.Dec or FlagOp.Shift => (s.Rflags & Cf) != 0,
            FlagOp.Add => r < a,
            FlagOp.Adc => (s.Rflags & Cf) != 0 ? r <= a : r < a,
            FlagOp.Sub => a < b,
            FlagOp.Sbb => (s.Rflags & Cf) != 0 ? a <= b : a < b,
            _ => false,
        };
    }

    public static bool GetZf(ref CpuState s) => s.FlagOp == FlagOp.None ? (s.Rflags & Zf) != 0 : (s.FlagResult & SizeMask(s.FlagSize)) == 0;

    public static bool GetSf(ref CpuState s) => s.FlagOp == FlagOp.None ? (s.Rflags & Sf) != 0 : (s.FlagResult & SignBit(s.FlagSize)) != 0;

    public static bool GetPf(ref CpuState s) => s.FlagOp == FlagOp.None ? (s.Rflags & Pf) != 0 : Parity(s.FlagResult) != 0;

    public static bool GetOf(ref CpuState s)
    {
        ulong sign = SignBit(s.FlagSize);
        ulong a = s.FlagA, b = s.FlagB, r = s.FlagResult;
        return s.FlagOp switch
        {
            FlagOp.None or FlagOp.Shift => (s.Rflags & Of) != 0,
            FlagOp.Add or FlagOp.Adc => ((a ^ r) & (b ^ r) & sign) != 0,
            FlagOp.Sub or FlagOp.Sbb => ((a ^ b) & (a ^ r) & sign) != 0,
            FlagOp.Inc => (r & SizeMask(s.FlagSize)) == sign,
            FlagOp.Dec => (r & SizeMask(s.FlagSize)) == sign - 1,
            _ => false,
        };
    }

    public static bool GetAf(ref CpuState s) => s.FlagOp switch
    {
        FlagOp.None => (s.Rflags & Af) != 0,
        FlagOp.Logic or FlagOp.Shift => false,
        _ => ((s.FlagA ^ s.FlagB ^ s.FlagResult) & 0x10) != 0,
    };

    /// <summary>Folds pending lazy flags into <see cref="CpuState.Rflags"/>.</summary>
    public static void MaterializeFlags(ref CpuState s)
    {
        if (s.FlagOp == FlagOp.None) return;
        ulong f = (GetCf(ref s) ? Cf : 0) | (GetPf(ref s) ? Pf : 0) | (GetAf(ref s) ? Af : 0) | (GetZf(ref s) ? Zf : 0)
                  | (GetSf(ref s) ? Sf : 0) | (GetOf(ref s) ? Of : 0);
        s.Rflags = (s.Rflags & ~Arithmetic) | f;
        s.FlagOp = FlagOp.None;
    }

    public static ulong GetRflags(ref CpuState s)
    {
        MaterializeFlags(ref s);
        return s.Rflags;
    }

    public static void SetFlag(ref CpuState s, ulong bit, bool on)
    {
        MaterializeFlags(ref s);
        s.Rflags = on ? s.Rflags | bit : s.Rflags & ~bit;
    }

    public static bool Condition(ref CpuState s, ConditionCode cc)
    {
        if (s.FlagOp == FlagOp.Sub)
        {
            // CMP and SUB dominate conditional branches: test the operands directly.
            int shift = 64 - s.FlagSize * 8;
            ulong ua = s.FlagA << shift, ub = s.FlagB << shift;
            long sa = (long)ua, sb = (long)ub;
            switch (cc)
            {
                case ConditionCode.e: return ua == ub;
                case ConditionCode.ne: return ua != ub;
                case ConditionCode.b: return ua < ub;
                case ConditionCode.ae: return ua >= ub;
                case ConditionCode.be: return ua <= ub;
                case ConditionCode.a: return ua > ub;
                case ConditionCode.l: return sa < sb;
                case ConditionCode.ge: return sa >= sb;
                case ConditionCode.le: return sa <= sb;
                case ConditionCode.g: return sa > sb;
            }
        }
        if (s.FlagOp == FlagOp.None)
        {
            ulong fl = s.Rflags;
            bool of = (fl & Of) != 0, sf = (fl & Sf) != 0, zf = (fl & Zf) != 0, cf = (fl & Cf) != 0;
            return cc switch
            {
                ConditionCode.o => of, ConditionCode.no => !of, ConditionCode.b => cf, ConditionCode.ae => !cf,
                ConditionCode.e => zf, ConditionCode.ne => !zf, ConditionCode.be => cf || zf, ConditionCode.a => !cf && !zf,
                ConditionCode.s => sf, ConditionCode.ns => !sf, ConditionCode.p => (fl & Pf) != 0, ConditionCode.np => (fl & Pf) == 0,
                ConditionCode.l => sf != of, ConditionCode.ge => sf == of, ConditionCode.le => zf || sf != of, ConditionCode.g => !zf && sf == of,
                _ => true,
            };
        }
        // Every lazy operation keeps its result: ZF and SF need nothing else.
        ulong result = s.FlagResult & SizeMask(s.FlagSize);
        switch (cc)
        {
            case ConditionCode.e: return result == 0;
            case ConditionCode.ne: return result != 0;
            case ConditionCode.s: return (result & SignBit(s.FlagSize)) != 0;
            case ConditionCode.ns: return (result & SignBit(s.FlagSize)) == 0;
        }
        return cc switch
        {
            ConditionCode.o => GetOf(ref s),
            ConditionCode.no => !GetOf(ref s),
            ConditionCode.b => GetCf(ref s),
            ConditionCode.ae => !GetCf(ref s),
            ConditionCode.e => GetZf(ref s),
            ConditionCode.ne => !GetZf(ref s),
            ConditionCode.be => GetCf(ref s) || GetZf(ref s),
            ConditionCode.a => !GetCf(ref s) && !GetZf(ref s),
            ConditionCode.s => GetSf(ref s),
            ConditionCode.ns => !GetSf(ref s),
            ConditionCode.p => GetPf(ref s),
            ConditionCode.np => !GetPf(ref s),
            ConditionCode.l => GetSf(ref s) != GetOf(ref s),
            ConditionCode.ge => GetSf(ref s) == GetOf(ref s),
            ConditionCode.le => GetZf(ref s) || GetSf(ref s) != GetOf(ref s),
            ConditionCode.g => !GetZf(ref s) && GetSf(ref s) == GetOf(ref s),
            _ => true,
        };
    }
}
