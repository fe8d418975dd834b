using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>ADD ADC SUB SBB AND OR XOR CMP TEST INC DEC NEG NOT.</summary>
internal sealed partial class X86Cpu
{
    private void ExecuteBinaryArithmetic(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong b = ReadOperand(ref ins, 1, size);
        ulong a = ReadModifyTarget(ref ins, size);
        ulong r;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Add:
                r = a + b;
                SetLazy(FlagOp.Add, size, a, b, r);
                break;
            case Mnemonic.Adc:
            {
                bool cf = GetCf();
                r = a + b + (cf ? 1UL : 0);
                SetLazyAdcSbb(FlagOp.Adc, size, a, b, r, cf);
                break;
            }
            case Mnemonic.Sub:
                r = a - b;
                SetLazy(FlagOp.Sub, size, a, b, r);
                break;
            case Mnemonic.Sbb:
            {
                bool cf = GetCf();
                r = a - b - (cf ? 1UL : 0);
                SetLazyAdcSbb(FlagOp.Sbb, size, a, b, r, cf);
                break;
            }
            case Mnemonic.And: r = a & b; SetLazy(FlagOp.Logic, size, 0, 0, r); break;
            case Mnemonic.Or: r = a | b; SetLazy(FlagOp.Logic, size, 0, 0, r); break;
            default: r = a ^ b; SetLazy(FlagOp.Logic, size, 0, 0, r); break;
        }
        WriteModifyTarget(ref ins, size, r & SizeMask(size));
    }

    private void ExecuteCmp(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong a = ReadOperand(ref ins, 0, size);
        ulong b = ReadOperand(ref ins, 1, size);
        SetLazy(FlagOp.Sub, size, a, b, a - b);
    }

    private void ExecuteTest(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong a = ReadOperand(ref ins, 0, size);
        ulong b = ReadOperand(ref ins, 1, size);
        SetLazy(FlagOp.Logic, size, 0, 0, a & b);
    }

    private void ExecuteIncDec(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong a = ReadModifyTarget(ref ins, size);
        bool inc = ins.Mnemonic == Mnemonic.Inc;
        ulong r = inc ? a + 1 : a - 1;
        SetLazyIncDec(inc ? FlagOp.Inc : FlagOp.Dec, size, a, r);
        WriteModifyTarget(ref ins, size, r & SizeMask(size));
    }

    private void ExecuteNeg(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong a = ReadModifyTarget(ref ins, size);
        ulong r = 0 - a;
        SetLazy(FlagOp.Sub, size, 0, a, r);
        WriteModifyTarget(ref ins, size, r & SizeMask(size));
    }

    private void ExecuteNot(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong a = ReadModifyTarget(ref ins, size);
        WriteModifyTarget(ref ins, size, ~a & SizeMask(size));
    }
}
