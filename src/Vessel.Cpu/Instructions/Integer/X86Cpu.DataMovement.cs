using System.Buffers.Binary;
using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>MOV and its extending forms, LEA, XCHG, XADD, CMPXCHG*, BSWAP, MOVBE, CMOVcc, CBW..CQO,
/// XLAT, LAHF, SAHF.</summary>
internal sealed partial class X86Cpu
{
    private static bool IsControlOrDebugRegister(Register r) => r.IsCR() || r.IsDR();

    private void ExecuteMov(ref Instruction ins)
    {
        if (ins.Op0Kind == OpKind.Register)
        {
            Register dst = ins.Op0Register;
            int seg = SegmentIndex(dst);
            if (seg >= 0)
            {
                ushort selector = (ushort)ReadOperand(ref ins, 1, 2);
                if (seg == CS) FaultNoCode(Vector.UD);
                _segments.Load(seg, selector);
                if (seg == SS) _interruptShadow = true;
                _endBlock = true;
                return;
            }
            if (RegisterTable.Size[(int)dst] == 0 ||
                (ins.Op1Kind == OpKind.Register && IsControlOrDebugRegister(ins.Op1Register)))
            {
                if (!ExecuteSystem(ref ins)) FaultNoCode(Vector.UD);
                return;
            }
            int size = RegisterTable.Size[(int)dst];
            WriteGpr(dst, ReadOperand(ref ins, 1, size));
            return;
        }
        // Memory destination: a register, segment register or immediate source.
        int msize = MemorySizeOf(ref ins);
        WriteMemoryOperand(ref ins, msize, ReadOperand(ref ins, 1, msize));
    }

    private void ExecuteMovExtend(ref Instruction ins)
    {
        int srcSize = OperandSize(ref ins, 1);
        ulong v = ReadOperand(ref ins, 1, srcSize);
        if (ins.Mnemonic != Mnemonic.Movzx) v = (ulong)SignExtend(v, srcSize);
        WriteGpr(ins.Op0Register, v);
    }

    private void ExecuteLea(ref Instruction ins) => WriteGpr(ins.Op0Register, EffectiveAddress(ref ins));

    private void ExecuteXchg(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        if (ins.Op0Kind == OpKind.Memory || ins.Op1Kind == OpKind.Memory)
        {
            // XCHG with memory is always locked.
            if (_atomicState == AtomicState.Off)
            {
                ExecuteAtomically(ref ins);
                return;
            }
            Register reg = ins.Op0Kind == OpKind.Register ? ins.Op0Register : ins.Op1Register;
            ulong linear = SegmentedLinear(SegmentIndex(ins.MemorySegment), EffectiveAddress(ref ins), size, AccessKind.Write);
            ulong m = ReadRmw(linear, size);
            WriteRmw(linear, size, ReadGpr(reg));
            WriteGpr(reg, m);
            return;
        }
        ulong a = ReadGpr(ins.Op0Register), b = ReadGpr(ins.Op1Register);
        WriteGpr(ins.Op0Register, b);
        WriteGpr(ins.Op1Register, a);
    }

    private void ExecuteXadd(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong src = ReadGpr(ins.Op1Register);
        ulong dst = ReadModifyTarget(ref ins, size);
        ulong sum = dst + src;
        SetLazy(FlagOp.Add, size, dst, src, sum);
        WriteGpr(ins.Op1Register, dst);
        WriteModifyTarget(ref ins, size, sum & SizeMask(size));
    }

    private void ExecuteCmpxchg(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong src = ReadGpr(ins.Op1Register);
        ulong dst = ReadModifyTarget(ref ins, size);
        ulong acc = Gpr[0] & SizeMask(size);
        SetLazy(FlagOp.Sub, size, acc, dst, acc - dst);
        if (acc == dst)
        {
            WriteModifyTarget(ref ins, size, src);
        }
        else
        {
            if (ins.Op0Kind == OpKind.Memory) WriteModifyTarget(ref ins, size, dst);
            WriteGprSized(0, size, dst);
        }
    }

    private void ExecuteCmpxchgWide(ref Instruction ins)
    {
        bool wide = ins.Mnemonic == Mnemonic.Cmpxchg16b;
        int half = wide ? 8 : 4;
        ulong ea = EffectiveAddress(ref ins);
        ulong linear = SegmentedLinear(SegmentIndex(ins.MemorySegment), ea, half * 2, AccessKind.Write);
        if (wide && (linear & 15) != 0) Fault(Vector.GP, 0);
        ulong lo, hi;
        if (wide)
        {
            (lo, hi) = Read16Rmw(linear);
        }
        else
        {
            ulong both = ReadRmw(linear, 8);
            lo = (uint)both;
            hi = both >> 32;
        }
        ulong mask = SizeMask(half);
        bool equal = lo == (Gpr[0] & mask) && hi == (Gpr[2] & mask);
        // The destination is written either way (with its own value on a mismatch), as hardware does.
        ulong newLo = equal ? Gpr[3] & mask : lo, newHi = equal ? Gpr[1] & mask : hi;
        if (wide) Write16Rmw(linear, newLo, newHi);
        else WriteRmw(linear, 8, newLo | (newHi << 32));
        if (!equal)
        {
            WriteGprSized(0, half, lo);
            WriteGprSized(2, half, hi);
        }
        SetFlag(Zf, equal);
    }

    private void ExecuteBswap(ref Instruction ins)
    {
        Register r = ins.Op0Register;
        ulong v = ReadGpr(r);
        ulong swapped = RegisterTable.Size[(int)r] switch
        {
            8 => BinaryPrimitives.ReverseEndianness(v),
            4 => BinaryPrimitives.ReverseEndianness((uint)v),
            _ => 0, // BSWAP of a 16-bit register is undefined; current CPUs clear it.
        };
        WriteGpr(r, swapped);
    }

    private static ulong ByteSwap(ulong v, int size) => size switch
    {
        2 => BinaryPrimitives.ReverseEndianness((ushort)v),
        4 => BinaryPrimitives.ReverseEndianness((uint)v),
        _ => BinaryPrimitives.ReverseEndianness(v),
    };

    private void ExecuteMovbe(ref Instruction ins)
    {
        if (ins.Op0Kind == OpKind.Register)
        {
            int size = RegisterTable.Size[(int)ins.Op0Register];
            WriteGpr(ins.Op0Register, ByteSwap(ReadMemoryOperand(ref ins, size), size));
        }
        else
        {
            int size = RegisterTable.Size[(int)ins.Op1Register];
            WriteMemoryOperand(ref ins, size, ByteSwap(ReadGpr(ins.Op1Register), size));
        }
    }

    private void ExecuteCmov(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 0);
        ulong v = ReadOperand(ref ins, 1, size); // the source is read (and may fault) even when not moved
        if (Condition(ins.ConditionCode)) WriteGpr(ins.Op0Register, v);
        else if (size == 4) WriteGpr(ins.Op0Register, ReadGpr(ins.Op0Register)); // 32-bit forms always zero the upper half
    }

    private void ExecuteSignExtendAccumulator(ref Instruction ins)
    {
        ulong a = Gpr[0];
        switch (ins.Mnemonic)
        {
            case Mnemonic.Cbw: WriteGprSized(0, 2, (ulong)(sbyte)a); break;
            case Mnemonic.Cwde: WriteGprSized(0, 4, (ulong)(short)a); break;
            case Mnemonic.Cdqe: Gpr[0] = (ulong)(int)a; break;
            case Mnemonic.Cwd: WriteGprSized(2, 2, (short)a < 0 ? 0xFFFFUL : 0); break;
            case Mnemonic.Cdq: WriteGprSized(2, 4, (int)a < 0 ? 0xFFFF_FFFF : 0); break;
            default: Gpr[2] = (long)a < 0 ? ulong.MaxValue : 0; break;
        }
    }

    private void ExecuteXlat(ref Instruction ins)
    {
        ulong ea = ins.MemoryBase switch
        {
            Register.BX => (ushort)(Gpr[3] + (Gpr[0] & 0xFF)),
            Register.EBX => (uint)(Gpr[3] + (Gpr[0] & 0xFF)),
            _ => Gpr[3] + (Gpr[0] & 0xFF),
        };
        WriteGprSized(0, 1, ReadVirtual(SegmentIndex(ins.MemorySegment), ea, 1));
    }

    private void ExecuteLahf()
    {
        ulong f = GetRflags();
        WriteGpr(Register.AH, (f & (Sf | Zf | Af | Pf | Cf)) | 2);
    }

    /// <summary>SALC (D6, undocumented, outside 64-bit mode): AL = CF ? FFh : 0; flags unchanged.</summary>
    private void ExecuteSalc() => WriteGpr(Register.AL, GetCf() ? 0xFFUL : 0);

    private void ExecuteSahf()
    {
        ulong ah = (Gpr[0] >> 8) & 0xFF;
        MaterializeFlags();
        const ulong bits = Sf | Zf | Af | Pf | Cf;
        _rflags = (_rflags & ~bits) | (ah & bits);
    }
}
