using System.Buffers.Binary;
using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>MOV and its extending forms, LEA, XCHG, XADD, CMPXCHG*, BSWAP, MOVBE, CMOVcc, CBW..CQO,
/// XLAT, LAHF, SAHF, SALC.</summary>
internal sealed class DataMovementUnit<TCpu>(TCpu cpu) where TCpu : struct, IIntegerCpu
{
    private readonly TCpu _cpu = cpu;

    private ref GprFile Gpr => ref _cpu.State.Gpr;
    private ref ulong Rflags => ref _cpu.State.Rflags;

    private static bool IsControlOrDebugRegister(Register r) => r.IsCR() || r.IsDR();

    public void Mov(ref Instruction ins)
    {
        if (ins.Op0Kind == OpKind.Register)
        {
            Register dst = ins.Op0Register;
            int seg = SegmentIndex(dst);
            if (seg >= 0)
            {
                ushort selector = (ushort)_cpu.ReadOperand(ref ins, 1, 2);
                if (seg == X86Cpu.CS) _cpu.FaultNoCode(Vector.UD);
                _cpu.LoadSegmentRegister(seg, selector);
                return;
            }
            if (RegisterTable.Size[(int)dst] == 0 ||
                (ins.Op1Kind == OpKind.Register && IsControlOrDebugRegister(ins.Op1Register)))
            {
                if (!_cpu.ExecuteSystem(ref ins)) _cpu.FaultNoCode(Vector.UD);
                return;
            }
            int size = RegisterTable.Size[(int)dst];
            _cpu.WriteGpr(dst, _cpu.ReadOperand(ref ins, 1, size));
            return;
        }
        // Memory destination: a register, segment register or immediate source.
        int msize = MemorySizeOf(ref ins);
        _cpu.WriteMemoryOperand(ref ins, msize, _cpu.ReadOperand(ref ins, 1, msize));
    }

    public void MovExtend(ref Instruction ins)
    {
        int srcSize = OperandSize(ref ins, 1);
        ulong v = _cpu.ReadOperand(ref ins, 1, srcSize);
        if (ins.Mnemonic != Mnemonic.Movzx) v = (ulong)X86Cpu.SignExtend(v, srcSize);
        _cpu.WriteGpr(ins.Op0Register, v);
    }

    public void Lea(ref Instruction ins) => _cpu.WriteGpr(ins.Op0Register, _cpu.EffectiveAddress(ref ins));

    public void Xchg(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        if (ins.Op0Kind == OpKind.Memory || ins.Op1Kind == OpKind.Memory)
        {
            // XCHG with memory is always locked.
            if (!_cpu.InLockedInstruction)
            {
                _cpu.ExecuteAtomically(ref ins);
                return;
            }
            Register reg = ins.Op0Kind == OpKind.Register ? ins.Op0Register : ins.Op1Register;
            ulong linear = _cpu.SegmentedLinear(SegmentIndex(ins.MemorySegment), _cpu.EffectiveAddress(ref ins), size, AccessKind.Write);
            ulong m = _cpu.ReadRmw(linear, size);
            _cpu.WriteRmw(linear, size, _cpu.ReadGpr(reg));
            _cpu.WriteGpr(reg, m);
            return;
        }
        ulong a = _cpu.ReadGpr(ins.Op0Register), b = _cpu.ReadGpr(ins.Op1Register);
        _cpu.WriteGpr(ins.Op0Register, b);
        _cpu.WriteGpr(ins.Op1Register, a);
    }

    public void Xadd(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong src = _cpu.ReadGpr(ins.Op1Register);
        ulong dst = _cpu.ReadModifyTarget(ref ins, size);
        ulong sum = dst + src;
        _cpu.SetLazy(X86Cpu.FlagOp.Add, size, dst, src, sum);
        _cpu.WriteGpr(ins.Op1Register, dst);
        _cpu.WriteModifyTarget(ref ins, size, sum & X86Cpu.SizeMask(size));
    }

    public void Cmpxchg(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong src = _cpu.ReadGpr(ins.Op1Register);
        ulong dst = _cpu.ReadModifyTarget(ref ins, size);
        ulong acc = Gpr[0] & X86Cpu.SizeMask(size);
        _cpu.SetLazy(X86Cpu.FlagOp.Sub, size, acc, dst, acc - dst);
        if (acc == dst)
        {
            _cpu.WriteModifyTarget(ref ins, size, src);
        }
        else
        {
            if (ins.Op0Kind == OpKind.Memory) _cpu.WriteModifyTarget(ref ins, size, dst);
            _cpu.WriteGprSized(0, size, dst);
        }
    }

    public void CmpxchgWide(ref Instruction ins)
    {
        bool wide = ins.Mnemonic == Mnemonic.Cmpxchg16b;
        int half = wide ? 8 : 4;
        ulong ea = _cpu.EffectiveAddress(ref ins);
        ulong linear = _cpu.SegmentedLinear(SegmentIndex(ins.MemorySegment), ea, half * 2, AccessKind.Write);
        if (wide && (linear & 15) != 0) _cpu.Fault(Vector.GP, 0);
        ulong lo, hi;
        if (wide)
        {
            (lo, hi) = _cpu.Read16Rmw(linear);
        }
        else
        {
            ulong both = _cpu.ReadRmw(linear, 8);
            lo = (uint)both;
            hi = both >> 32;
        }
        ulong mask = X86Cpu.SizeMask(half);
        bool equal = lo == (Gpr[0] & mask) && hi == (Gpr[2] & mask);
        // The destination is written either way (with its own value on a mismatch), as hardware does.
        ulong newLo = equal ? Gpr[3] & mask : lo, newHi = equal ? Gpr[1] & mask : hi;
        if (wide) _cpu.Write16Rmw(linear, newLo, newHi);
        else _cpu.WriteRmw(linear, 8, newLo | (newHi << 32));
        if (!equal)
        {
            _cpu.WriteGprSized(0, half, lo);
            _cpu.WriteGprSized(2, half, hi);
        }
        _cpu.SetFlag(Zf, equal);
    }

    public void Bswap(ref Instruction ins)
    {
        Register r = ins.Op0Register;
        ulong v = _cpu.ReadGpr(r);
        ulong swapped = RegisterTable.Size[(int)r] switch
        {
            8 => BinaryPrimitives.ReverseEndianness(v),
            4 => BinaryPrimitives.ReverseEndianness((uint)v),
            _ => 0, // BSWAP of a 16-bit register is undefined; current CPUs clear it.
        };
        _cpu.WriteGpr(r, swapped);
    }

    private static ulong ByteSwap(ulong v, int size) => size switch
    {
        2 => BinaryPrimitives.ReverseEndianness((ushort)v),
        4 => BinaryPrimitives.ReverseEndianness((uint)v),
        _ => BinaryPrimitives.ReverseEndianness(v),
    };

    public void Movbe(ref Instruction ins)
    {
        if (ins.Op0Kind == OpKind.Register)
        {
            int size = RegisterTable.Size[(int)ins.Op0Register];
            _cpu.WriteGpr(ins.Op0Register, ByteSwap(_cpu.ReadMemoryOperand(ref ins, size), size));
        }
        else
        {
            int size = RegisterTable.Size[(int)ins.Op1Register];
            _cpu.WriteMemoryOperand(ref ins, size, ByteSwap(_cpu.ReadGpr(ins.Op1Register), size));
        }
    }

    public void Cmov(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong v = _cpu.ReadOperand(ref ins, 1, size); // the source is read (and may fault) even when not moved
        if (_cpu.Condition(ins.ConditionCode)) _cpu.WriteGpr(ins.Op0Register, v);
        else if (size == 4) _cpu.WriteGpr(ins.Op0Register, _cpu.ReadGpr(ins.Op0Register)); // 32-bit forms always zero the upper half
    }

    public void SignExtendAccumulator(ref Instruction ins)
    {
        ulong a = Gpr[0];
        switch (ins.Mnemonic)
        {
            case Mnemonic.Cbw: _cpu.WriteGprSized(0, 2, (ulong)(sbyte)a); break;
            case Mnemonic.Cwde: _cpu.WriteGprSized(0, 4, (ulong)(short)a); break;
            case Mnemonic.Cdqe: Gpr[0] = (ulong)(int)a; break;
            case Mnemonic.Cwd: _cpu.WriteGprSized(2, 2, (short)a < 0 ? 0xFFFFUL : 0); break;
            case Mnemonic.Cdq: _cpu.WriteGprSized(2, 4, (int)a < 0 ? 0xFFFF_FFFF : 0); break;
            default: Gpr[2] = (long)a < 0 ? ulong.MaxValue : 0; break;
        }
    }

    public void Xlat(ref Instruction ins)
    {
        ulong ea = ins.MemoryBase switch
        {
            Register.BX => (ushort)(Gpr[3] + (Gpr[0] & 0xFF)),
            Register.EBX => (uint)(Gpr[3] + (Gpr[0] & 0xFF)),
            _ => Gpr[3] + (Gpr[0] & 0xFF),
        };
        _cpu.WriteGprSized(0, 1, _cpu.ReadVirtual(SegmentIndex(ins.MemorySegment), ea, 1));
    }

    public void Lahf()
    {
        ulong f = _cpu.GetRflags();
        _cpu.WriteGpr(Register.AH, (f & (Sf | Zf | Af | Pf | Cf)) | 2);
    }

    /// <summary>SALC (D6, undocumented, outside 64-bit mode): AL = CF ? FFh : 0; flags unchanged.</summary>
    public void Salc() => _cpu.WriteGpr(Register.AL, _cpu.GetCf() ? 0xFFUL : 0);

    public void Sahf()
    {
        ulong ah = (Gpr[0] >> 8) & 0xFF;
        _cpu.MaterializeFlags();
        const ulong bits = Sf | Zf | Af | Pf | Cf;
        Rflags = (Rflags & ~bits) | (ah & bits);
    }
}
