using System.Numerics;
using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>BT BTS BTR BTC BSF BSR POPCNT LZCNT TZCNT.</summary>
internal sealed class BitUnit<TCpu>(TCpu cpu) where TCpu : struct, IIntegerCpu
{
    private readonly TCpu _cpu = cpu;

    public void BitTest(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        int bits = size * 8;
        bool immediate = ins.Op1Kind != OpKind.Register;
        ulong offset = _cpu.ReadOperand(ref ins, 1, immediate ? 1 : size);
        int bit = (int)(offset & (ulong)(bits - 1));
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
                long signedOffset = X86Cpu.SignExtend(offset, size);
                displacement = (signedOffset >> (size == 8 ? 6 : size == 4 ? 5 : 4)) * size;
            }
            ulong ea = _cpu.EffectiveAddress(ref ins) + (ulong)displacement;
            ea = _cpu.AddressSize(ref ins) switch { 2 => (ushort)ea, 4 => (uint)ea, _ => ea };
            linear = _cpu.SegmentedLinear(SegmentIndex(ins.MemorySegment), ea, size,
                m == Mnemonic.Bt ? AccessKind.Read : AccessKind.Write);
            value = m == Mnemonic.Bt ? _cpu.ReadLinear(linear, size, _cpu.UserAccess) : _cpu.ReadRmw(linear, size);
        }
        else
        {
            value = _cpu.ReadGpr(ins.Op0Register);
        }
        bool cf = ((value >> bit) & 1) != 0;
        _cpu.SetFlag(Cf, cf);
        if (m == Mnemonic.Bt) return;
        ulong result = m switch
        {
            Mnemonic.Bts => value | (1UL << bit),
            Mnemonic.Btr => value & ~(1UL << bit),
            _ => value ^ (1UL << bit),
        };
        if (memory) _cpu.WriteRmw(linear, size, result);
        else _cpu.WriteGpr(ins.Op0Register, result);
    }

    public void BitScan(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong src = _cpu.ReadOperand(ref ins, 1, size) & X86Cpu.SizeMask(size);
        _cpu.MaterializeFlags();
        ref ulong rflags = ref _cpu.State.Rflags;
        if (src == 0)
        {
            // The destination is left unchanged, as AMD documents and Intel CPUs do.
            rflags = (rflags & ~Arithmetic) | Zf | Pf;
            return;
        }
        int index = ins.Mnemonic == Mnemonic.Bsf ? BitOperations.TrailingZeroCount(src) : 63 - BitOperations.LeadingZeroCount(src);
        // The index is below 64, so its parity is that of its low byte.
        rflags = (rflags & ~Arithmetic) | ((BitOperations.PopCount((uint)index) & 1) == 0 ? Pf : 0);
        _cpu.WriteGpr(ins.Op0Register, (ulong)index);
    }

    public void BitCount(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        int bits = size * 8;
        ulong src = _cpu.ReadOperand(ref ins, 1, size) & X86Cpu.SizeMask(size);
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
        _cpu.SetArithmeticFlags(flags);
        _cpu.WriteGpr(ins.Op0Register, result);
    }
}
