using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>ADD ADC SUB SBB AND OR XOR CMP TEST INC DEC NEG NOT, on the lazy flags.</summary>
internal sealed class ArithmeticUnit<TCpu>(TCpu cpu) where TCpu : struct, IIntegerCpu
{
    private readonly TCpu _cpu = cpu;

    public void BinaryArithmetic(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong b = _cpu.ReadOperand(ref ins, 1, size);
        ulong a = _cpu.ReadModifyTarget(ref ins, size);
        ulong r;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Add:
                r = a + b;
                _cpu.SetLazy(X86Cpu.FlagOp.Add, size, a, b, r);
                break;
            case Mnemonic.Adc:
            {
                bool cf = _cpu.GetCf();
                r = a + b + (cf ? 1UL : 0);
                _cpu.SetLazyAdcSbb(X86Cpu.FlagOp.Adc, size, a, b, r, cf);
                break;
            }
            case Mnemonic.Sub:
                r = a - b;
                _cpu.SetLazy(X86Cpu.FlagOp.Sub, size, a, b, r);
                break;
            case Mnemonic.Sbb:
            {
                bool cf = _cpu.GetCf();
                r = a - b - (cf ? 1UL : 0);
                _cpu.SetLazyAdcSbb(X86Cpu.FlagOp.Sbb, size, a, b, r, cf);
                break;
            }
            case Mnemonic.And: r = a & b; _cpu.SetLazy(X86Cpu.FlagOp.Logic, size, 0, 0, r); break;
            case Mnemonic.Or: r = a | b; _cpu.SetLazy(X86Cpu.FlagOp.Logic, size, 0, 0, r); break;
            default: r = a ^ b; _cpu.SetLazy(X86Cpu.FlagOp.Logic, size, 0, 0, r); break;
        }
        _cpu.WriteModifyTarget(ref ins, size, r & X86Cpu.SizeMask(size));
    }

    public void Cmp(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong a = _cpu.ReadOperand(ref ins, 0, size);
        ulong b = _cpu.ReadOperand(ref ins, 1, size);
        _cpu.SetLazy(X86Cpu.FlagOp.Sub, size, a, b, a - b);
    }

    public void Test(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong a = _cpu.ReadOperand(ref ins, 0, size);
        ulong b = _cpu.ReadOperand(ref ins, 1, size);
        _cpu.SetLazy(X86Cpu.FlagOp.Logic, size, 0, 0, a & b);
    }

    public void IncDec(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong a = _cpu.ReadModifyTarget(ref ins, size);
        bool inc = ins.Mnemonic == Mnemonic.Inc;
        ulong r = inc ? a + 1 : a - 1;
        _cpu.SetLazyIncDec(inc ? X86Cpu.FlagOp.Inc : X86Cpu.FlagOp.Dec, size, a, r);
        _cpu.WriteModifyTarget(ref ins, size, r & X86Cpu.SizeMask(size));
    }

    public void Neg(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong a = _cpu.ReadModifyTarget(ref ins, size);
        ulong r = 0 - a;
        _cpu.SetLazy(X86Cpu.FlagOp.Sub, size, 0, a, r);
        _cpu.WriteModifyTarget(ref ins, size, r & X86Cpu.SizeMask(size));
    }

    public void Not(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong a = _cpu.ReadModifyTarget(ref ins, size);
        _cpu.WriteModifyTarget(ref ins, size, ~a & X86Cpu.SizeMask(size));
    }
}
