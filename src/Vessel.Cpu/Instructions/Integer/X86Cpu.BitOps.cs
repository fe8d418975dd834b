using System.Numerics;
using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>BT BTS BTR BTC BSF BSR POPCNT LZCNT TZCNT.</summary>
internal sealed partial class X86Cpu
{
    private void ExecuteBitTest(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        int bits = size * 8;
        bool immediate = ins.Op1Kind != OpKind.Register;
        ulong offset = ReadOperand(ref ins, 1, immediate ? 1 : size);
        int bit;
        ulong value;
        bool memory = ins.Op0Kind == OpKind.Memory;
        ulong linear = 0;
        Mnemonic m = ins.Mnemonic;
        if (memory)
        {
            long displacement = 0;
            if (!immediate)
            {
                // A register bit offset addresses memory beyond the operand: signed, in operand-size units.
                long signedOffset = SignExtend(offset, size);
                displacement = (signedOffset >> (size == 8 ? 6 : size == 4 ? 5 : 4)) * size;
            }
            bit = (int)(offset & (ulong)(bits - 1));
            ulong ea = EffectiveAddress(ref ins) + (ulong)displacement;
            ea = AddressSize(ref ins) switch { 2 => (ushort)ea, 4 => (uint)ea, _ => ea };
            linear = SegmentedLinear(SegmentIndex(ins.MemorySegment), ea, size,
                m == Mnemonic.Bt ? AccessKind.Read : AccessKind.Write);
            value = m == Mnemonic.Bt ? ReadLinear(linear, size, UserAccess) : ReadRmw(linear, size);
        }
        else
        {
            bit = (int)(offset & (ulong)(bits - 1));
            value = ReadGpr(ins.Op0Register);
        }
        bool cf = ((value >> bit) & 1) != 0;
        SetFlag(Cf, cf);
        if (m == Mnemonic.Bt) return;
        ulong result = m switch
        {
            Mnemonic.Bts => value | (1UL << bit),
            Mnemonic.Btr => value & ~(1UL << bit),
            _ => value ^ (1UL << bit),
        };
        if (memory) WriteRmw(linear, size, result);
        else WriteGpr(ins.Op0Register, result);
    }

    private void ExecuteBitScan(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong src = ReadOperand(ref ins, 1, size) & SizeMask(size);
        MaterializeFlags();
        if (src == 0)
        {
            // The destination is left unchanged, as AMD documents and Intel CPUs do.
            _rflags = (_rflags & ~Arithmetic) | Zf | Pf;
            return;
        }
        int index = ins.Mnemonic == Mnemonic.Bsf ? BitOperations.TrailingZeroCount(src) : 63 - BitOperations.LeadingZeroCount(src);
        _rflags = (_rflags & ~Arithmetic) | Parity((ulong)index);
        WriteGpr(ins.Op0Register, (ulong)index);
    }

    private void ExecuteBitCount(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        int bits = size * 8;
        ulong src = ReadOperand(ref ins, 1, size) & SizeMask(size);
        ulong result;
        ulong flags;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Popcnt:
                result = (ulong)BitOperations.PopCount(src);
                flags = src == 0 ? Zf : 0;
                break;
            case Mnemonic.Lzcnt:
                result = src == 0 ? (ulong)bits : (ulong)(BitOperations.LeadingZeroCount(src) - (64 - bits));
                flags = (src == 0 ? Cf : 0) | (result == 0 ? Zf : 0);
                break;
            default:
                result = src == 0 ? (ulong)bits : (ulong)BitOperations.TrailingZeroCount(src);
                flags = (src == 0 ? Cf : 0) | (result == 0 ? Zf : 0);
                break;
        }
        SetArithmeticFlags(flags);
        WriteGpr(ins.Op0Register, result);
    }
}
