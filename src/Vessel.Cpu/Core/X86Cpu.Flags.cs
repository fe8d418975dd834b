using System.Numerics;
using System.Runtime.CompilerServices;
using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>Lazy arithmetic flags: the common flag-setting instructions record their operands and
/// result; CF/ZF/SF/OF/AF/PF are computed only when something reads them.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>Shift: ZF/SF/PF come from the result; CF and OF were computed and sit in <see cref="_rflags"/>;
    /// AF (undefined after shifts) reads as clear.</summary>
    internal enum FlagOp : byte { None, Add, Adc, Sub, Sbb, Logic, Inc, Dec, Shift }

    // The flags live in the state block (CpuState.Rflags and the lazy fields); these alias them.
    private ref ulong _rflags => ref State.Rflags;
    private ref FlagOp _flagOp => ref State.FlagOp;
    private ref ulong _flagA => ref State.FlagA;
    private ref ulong _flagB => ref State.FlagB;
    private ref ulong _flagResult => ref State.FlagResult;
    private ref int _flagSize => ref State.FlagSize;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SizeMask(int size) => size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong SignBit(int size) => 1UL << (size * 8 - 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SetLazy(FlagOp op, int size, ulong a, ulong b, ulong result)
    {
        _flagOp = op; _flagSize = size; _flagA = a; _flagB = b; _flagResult = result;
    }

    private void SetLazyAdcSbb(FlagOp op, int size, ulong a, ulong b, ulong result, bool carryIn)
    {
        // The carry-in is remembered in the CF bit of _rflags, which Adc/Sbb flag evaluation reads.
        _rflags = carryIn ? _rflags | Cf : _rflags & ~Cf;
        SetLazy(op, size, a, b, result);
    }

    private void SetLazyIncDec(FlagOp op, int size, ulong a, ulong result)
    {
        bool cf = GetCf();
        _rflags = cf ? _rflags | Cf : _rflags & ~Cf;
        SetLazy(op, size, a, 1, result);
    }

    /// <summary>Sets the six arithmetic flags from an eagerly computed value.</summary>
    private void SetArithmeticFlags(ulong flags)
    {
        _rflags = (_rflags & ~Arithmetic) | (flags & Arithmetic);
        _flagOp = FlagOp.None;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Parity(ulong result) => (BitOperations.PopCount((uint)(result & 0xFF)) & 1) == 0 ? Pf : 0;

    /// <summary>Standard ZF/SF/PF for a result of the given size.</summary>
    private static ulong ResultFlags(ulong result, int size)
    {
        ulong r = result & SizeMask(size);
        return (r == 0 ? Zf : 0) | ((r & SignBit(size)) != 0 ? Sf : 0) | Parity(r);
    }

    public bool GetCf()
    {
        ulong mask = SizeMask(_flagSize);
        ulong a = _flagA & mask, b = _flagB & mask, r = _flagResult & mask;
        return _flagOp switch
        {
            FlagOp.None or FlagOp.Inc or FlagOp.Dec or FlagOp.Shift => (_rflags & Cf) != 0,
            FlagOp.Add => r < a,
            FlagOp.Adc => (_rflags & Cf) != 0 ? r <= a : r < a,
            FlagOp.Sub => a < b,
            FlagOp.Sbb => (_rflags & Cf) != 0 ? a <= b : a < b,
            _ => false,
        };
    }

    public bool GetZf() => _flagOp == FlagOp.None ? (_rflags & Zf) != 0 : (_flagResult & SizeMask(_flagSize)) == 0;

    public bool GetSf() => _flagOp == FlagOp.None ? (_rflags & Sf) != 0 : (_flagResult & SignBit(_flagSize)) != 0;

    public bool GetPf() => _flagOp == FlagOp.None ? (_rflags & Pf) != 0 : Parity(_flagResult) != 0;

    public bool GetOf()
    {
        ulong sign = SignBit(_flagSize);
        ulong a = _flagA, b = _flagB, r = _flagResult;
        return _flagOp switch
        {
            FlagOp.None or FlagOp.Shift => (_rflags & Of) != 0,
            FlagOp.Add or FlagOp.Adc => ((a ^ r) & (b ^ r) & sign) != 0,
            FlagOp.Sub or FlagOp.Sbb => ((a ^ b) & (a ^ r) & sign) != 0,
            FlagOp.Inc => (r & SizeMask(_flagSize)) == sign,
            FlagOp.Dec => (r & SizeMask(_flagSize)) == sign - 1,
            _ => false,
        };
    }

    public bool GetAf() => _flagOp switch
    {
        FlagOp.None => (_rflags & Af) != 0,
        FlagOp.Logic or FlagOp.Shift => false,
        _ => ((_flagA ^ _flagB ^ _flagResult) & 0x10) != 0,
    };

    /// <summary>Folds pending lazy flags into <see cref="_rflags"/>.</summary>
    private void MaterializeFlags()
    {
        if (_flagOp == FlagOp.None) return;
        ulong f = (GetCf() ? Cf : 0) | (GetPf() ? Pf : 0) | (GetAf() ? Af : 0) | (GetZf() ? Zf : 0)
                  | (GetSf() ? Sf : 0) | (GetOf() ? Of : 0);
        _rflags = (_rflags & ~Arithmetic) | f;
        _flagOp = FlagOp.None;
    }

    public ulong GetRflags()
    {
        MaterializeFlags();
        return _rflags;
    }

    /// <summary>Sets RFLAGS wholesale (bit 1 forced on, reserved bits off).</summary>
    public void SetRflags(ulong value)
    {
        const ulong writable = Cf | Pf | Af | Zf | Sf | Tf | If | Df | Of | Iopl | Nt | Rf | Vm | Ac | Vif | Vip | Id;
        _rflags = (value & writable) | Reserved1;
        _flagOp = FlagOp.None;
        if ((value & Ac) == 0) _mmu.DropAcEntries();
    }

    public bool InterruptsEnabled => (_rflags & If) != 0;
    public int IoPrivilegeLevel => (int)((_rflags >> 12) & 3);
    private bool DirectionFlag => (_rflags & Df) != 0;

    private void SetFlag(ulong bit, bool on)
    {
        MaterializeFlags();
        _rflags = on ? _rflags | bit : _rflags & ~bit;
    }

    internal bool Condition(ConditionCode cc)
    {
        if (_flagOp == FlagOp.Sub)
        {
            // CMP and SUB dominate conditional branches: test the operands directly.
            int shift = 64 - _flagSize * 8;
            ulong ua = _flagA << shift, ub = _flagB << shift;
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
        if (_flagOp == FlagOp.None)
        {
            ulong fl = _rflags;
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
        ulong result = _flagResult & SizeMask(_flagSize);
        switch (cc)
        {
            case ConditionCode.e: return result == 0;
            case ConditionCode.ne: return result != 0;
            case ConditionCode.s: return (result & SignBit(_flagSize)) != 0;
            case ConditionCode.ns: return (result & SignBit(_flagSize)) == 0;
        }
        return cc switch
        {
            ConditionCode.o => GetOf(),
            ConditionCode.no => !GetOf(),
            ConditionCode.b => GetCf(),
            ConditionCode.ae => !GetCf(),
            ConditionCode.e => GetZf(),
            ConditionCode.ne => !GetZf(),
            ConditionCode.be => GetCf() || GetZf(),
            ConditionCode.a => !GetCf() && !GetZf(),
            ConditionCode.s => GetSf(),
            ConditionCode.ns => !GetSf(),
            ConditionCode.p => GetPf(),
            ConditionCode.np => !GetPf(),
            ConditionCode.l => GetSf() != GetOf(),
            ConditionCode.ge => GetSf() == GetOf(),
            ConditionCode.le => GetZf() || GetSf() != GetOf(),
            ConditionCode.g => !GetZf() && GetSf() == GetOf(),
            _ => true,
        };
    }
}
