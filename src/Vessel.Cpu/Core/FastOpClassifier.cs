using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>Turns a decoded instruction into a <see cref="FastOp"/> once, when its block is decoded: register ALU,
/// shifts, moves, CMOV, IMUL and branches, and the commonest memory and stack forms with their address form
/// extracted (base, index, scale, displacement, segment). <see cref="FastOpKind.Generic"/> when none applies.</summary>
internal static class FastOpClassifier
{
    private static AluOperation? AluOf(Mnemonic m) => m switch
    {
        Mnemonic.Add => AluOperation.Add, Mnemonic.Or => AluOperation.Or, Mnemonic.Adc => AluOperation.Adc,
        Mnemonic.Sbb => AluOperation.Sbb, Mnemonic.And => AluOperation.And, Mnemonic.Sub => AluOperation.Sub,
        Mnemonic.Xor => AluOperation.Xor, Mnemonic.Cmp => AluOperation.Cmp, Mnemonic.Test => AluOperation.Test,
        _ => null,
    };

    private static bool IsFullGpr(Register r, out byte index, out byte size)
    {
        index = RegisterTable.GprIndex[(int)r];
        size = RegisterTable.Size[(int)r];
        return size is 4 or 8;
    }

    public static FastOp Classify(ref Instruction ins, int bitness)
    {
        var f = new FastOp();
        if (ins.HasLockPrefix || ins.HasRepPrefix || ins.HasRepnePrefix) return f;
        ClassifyMemoryForms(ref ins, ref f, bitness);
        if (f.Kind != FastOpKind.Generic) return f;
        f = new FastOp();
        Mnemonic m = ins.Mnemonic;
        if (ins.IsJccShortOrNear)
        {
            f.Kind = FastOpKind.Jcc;
            f.Operation = (byte)ins.ConditionCode;
            f.Immediate = ins.NearBranchTarget;
            return f;
        }
        if (m == Mnemonic.Jmp && ins.Op0Kind is OpKind.NearBranch16 or OpKind.NearBranch32 or OpKind.NearBranch64)
        {
            f.Kind = FastOpKind.Jmp;
            f.Immediate = ins.NearBranchTarget;
            return f;
        }
        if (m == Mnemonic.Nop)
        {
            f.Kind = FastOpKind.Nop;
            return f;
        }
        if (ins.OpCount == 0 || ins.Op0Kind != OpKind.Register || !IsFullGpr(ins.Op0Register, out byte dst, out byte size))
            return f;
        f.Destination = dst;
        f.Size = size;
        if (AluOf(m) is AluOperation op && ins.OpCount == 2)
        {
            f.Operation = (byte)op;
            if (ins.Op1Kind == OpKind.Register && IsFullGpr(ins.Op1Register, out byte src, out _))
            {
                f.Kind = FastOpKind.AluRegReg;
                f.Source = src;
            }
            else if (ins.Op1Kind is OpKind.Immediate8to32 or OpKind.Immediate8to64 or OpKind.Immediate32 or OpKind.Immediate32to64)
            {
                f.Kind = FastOpKind.AluRegImm;
                f.Immediate = ins.GetImmediate(1);
            }
            return f;
        }
        switch (m)
        {
            case Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar
                when ins.OpCount == 1 || ins.Op1Kind == OpKind.Immediate8:
            {
                int count = (ins.OpCount == 1 ? 1 : ins.Immediate8) & (size == 8 ? 0x3F : 0x1F);
                if (count == 0) break;
                f.Kind = FastOpKind.ShiftRegImm;
                f.Operation = (byte)(m is Mnemonic.Shr ? ShiftOperation.Shr : m is Mnemonic.Sar ? ShiftOperation.Sar : ShiftOperation.Shl);
                f.Immediate = (ulong)count;
                break;
            }
            case Mnemonic.Inc when ins.OpCount == 1: f.Kind = FastOpKind.IncReg; break;
            case Mnemonic.Not when ins.OpCount == 1: f.Kind = FastOpKind.NotReg; break;
            case Mnemonic.Movzx or Mnemonic.Movsx or Mnemonic.Movsxd when ins.Op1Kind == OpKind.Register
                && ins.Op1Register.IsGPR() && !RegisterTable.IsHigh8[(int)ins.Op1Register]:
                f.Kind = m == Mnemonic.Movzx ? FastOpKind.MovzxRegReg : FastOpKind.MovsxRegReg;
                f.Source = RegisterTable.GprIndex[(int)ins.Op1Register];
                f.Operation = RegisterTable.Size[(int)ins.Op1Register];
                break;
            case Mnemonic.Cmovo or Mnemonic.Cmovno or Mnemonic.Cmovb or Mnemonic.Cmovae or Mnemonic.Cmove or Mnemonic.Cmovne
                or Mnemonic.Cmovbe or Mnemonic.Cmova or Mnemonic.Cmovs or Mnemonic.Cmovns or Mnemonic.Cmovp or Mnemonic.Cmovnp
                or Mnemonic.Cmovl or Mnemonic.Cmovge or Mnemonic.Cmovle or Mnemonic.Cmovg
                when ins.Op1Kind == OpKind.Register && IsFullGpr(ins.Op1Register, out byte cs, out _):
                f.Kind = FastOpKind.CmovRegReg;
                f.Operation = (byte)ins.ConditionCode;
                f.Source = cs;
                break;
            case Mnemonic.Imul when ins.OpCount == 2 && ins.Op1Kind == OpKind.Register && IsFullGpr(ins.Op1Register, out byte ms, out _):
                f.Kind = FastOpKind.ImulRegReg;
                f.Source = ms;
                break;
            case Mnemonic.Imul when ins.OpCount == 3 && ins.Op1Kind == OpKind.Register && IsFullGpr(ins.Op1Register, out byte ms3, out _)
                && ins.Op2Kind is OpKind.Immediate8to32 or OpKind.Immediate8to64 or OpKind.Immediate32 or OpKind.Immediate32to64:
                f.Kind = FastOpKind.ImulRegRegImm;
                f.Source = ms3;
                f.Immediate = ins.GetImmediate(2);
                break;
            case Mnemonic.Dec when ins.OpCount == 1: f.Kind = FastOpKind.DecReg; break;
            case Mnemonic.Mov when ins.Op1Kind == OpKind.Register && IsFullGpr(ins.Op1Register, out byte s, out _):
                f.Kind = FastOpKind.MovRegReg;
                f.Source = s;
                break;
            case Mnemonic.Mov when ins.Op1Kind is OpKind.Immediate32 or OpKind.Immediate64 or OpKind.Immediate32to64:
                f.Kind = FastOpKind.MovRegImm;
                f.Immediate = ins.GetImmediate(1);
                break;
        }
        return f;
    }

    /// <summary>Fills the memory-operand fields of <paramref name="f"/>; false if the form is not plain
    /// (a 16-bit address, a segment override in 64-bit code is fine, but no 8/16-bit base registers).</summary>
    public static bool ClassifyMemory(ref Instruction ins, ref FastOp f)
    {
        Register b = ins.MemoryBase, x = ins.MemoryIndex;
        int addressSize;
        if (b == Register.RIP) { addressSize = 8; f.MemoryBase = FastOp.NoRegister; }
        else if (b == Register.EIP) { addressSize = 4; f.MemoryBase = FastOp.NoRegister; }
        else if (b == Register.None) { addressSize = 0; f.MemoryBase = FastOp.NoRegister; }
        else
        {
            addressSize = RegisterTable.Size[(int)b];
            f.MemoryBase = RegisterTable.GprIndex[(int)b];
        }
        if (x == Register.None) f.MemoryIndex = FastOp.NoRegister;
        else
        {
            int indexSize = RegisterTable.Size[(int)x];
            if (addressSize != 0 && indexSize != addressSize) return false;
            addressSize = indexSize;
            f.MemoryIndex = RegisterTable.GprIndex[(int)x];
            f.MemoryScaleShift = (byte)System.Numerics.BitOperations.Log2((uint)ins.MemoryIndexScale);
        }
        if (addressSize == 0)
            addressSize = ins.MemoryDisplSize is 2 or 4 or 8 ? ins.MemoryDisplSize : ins.CodeSize switch
            {
                CodeSize.Code16 => 2, CodeSize.Code32 => 4, _ => 8,
            };
        if (addressSize is not (4 or 8)) return false;
        f.AddressMask = addressSize == 8 ? ulong.MaxValue : 0xFFFF_FFFF;
        f.Displacement = ins.MemoryDisplacement64;
        int seg = RegisterTable.SegmentIndex[(int)ins.MemorySegment];
        if (seg < 0) return false;
        f.MemorySegment = (byte)seg;
        return true;
    }

    /// <summary>Classifies the memory/stack forms; leaves <paramref name="f"/> Generic if none applies.</summary>
    public static void ClassifyMemoryForms(ref Instruction ins, ref FastOp f, int bitness)
    {
        Mnemonic m = ins.Mnemonic;
        if (bitness == 64)
        {
            switch (ins.Code)
            {
                case Code.Push_r64:
                    f.Kind = FastOpKind.PushReg; f.Source = RegisterTable.GprIndex[(int)ins.Op0Register]; return;
                case Code.Pop_r64 when ins.Op0Register != Register.RSP:
                    f.Kind = FastOpKind.PopReg; f.Destination = RegisterTable.GprIndex[(int)ins.Op0Register]; return;
                case Code.Call_rel32_64:
                    f.Kind = FastOpKind.CallNear; f.Immediate = ins.NearBranchTarget; return;
                case Code.Retnq:
                    f.Kind = FastOpKind.RetNear; return;
            }
        }
        if (ins.OpCount != 2) return;
        OpKind k0 = ins.Op0Kind, k1 = ins.Op1Kind;
        if (k0 == OpKind.Register && k1 == OpKind.Memory)
        {
            if (!IsFullGpr(ins.Op0Register, out byte dst, out byte size)) return;
            FastOpKind kind;
            if (m == Mnemonic.Mov) kind = FastOpKind.LoadReg;
            else if (m == Mnemonic.Lea) kind = FastOpKind.Lea;
            else if (m == Mnemonic.Movzx)
            {
                int sourceSize = ins.MemorySize.GetSize();
                if (sourceSize is not (1 or 2)) return;
                kind = FastOpKind.LoadZeroExtend;
                f.Operation = (byte)sourceSize;
            }
            else if (m is Mnemonic.Movsx or Mnemonic.Movsxd)
            {
                int sourceSize = ins.MemorySize.GetSize();
                if (sourceSize is not (1 or 2 or 4)) return;
                kind = FastOpKind.LoadSignExtend;
                f.Operation = (byte)sourceSize;
            }
            else if (AluOf(m) is AluOperation op && op != AluOperation.Test)
            {
                kind = FastOpKind.AluRegMem;
                f.Operation = (byte)op;
            }
            else return;
            if (!ClassifyMemory(ref ins, ref f)) return;
            f.Destination = dst;
            f.Size = size;
            f.Kind = kind;
            return;
        }
        if (k0 == OpKind.Memory)
        {
            FastOpKind kind;
            int size = ins.MemorySize.GetSize();
            if (size is not (4 or 8))
            {
                // Byte and word stores (of a register other than AH-BH, or of an immediate).
                if (size is not (1 or 2) || m != Mnemonic.Mov) return;
                if (k1 == OpKind.Register)
                {
                    Register r = ins.Op1Register;
                    if (!r.IsGPR() || RegisterTable.Size[(int)r] != size || RegisterTable.IsHigh8[(int)r]) return; // not MOV m16, Sreg
                    f.Source = RegisterTable.GprIndex[(int)r];
                    kind = FastOpKind.StoreReg;
                }
                else if (k1 is OpKind.Immediate8 or OpKind.Immediate16)
                {
                    f.Immediate = ins.GetImmediate(1);
                    kind = FastOpKind.StoreImm;
                }
                else return;
                if (!ClassifyMemory(ref ins, ref f)) return;
                f.Size = (byte)size;
                f.Kind = kind;
                return;
            }
            if (k1 == OpKind.Register)
            {
                if (!IsFullGpr(ins.Op1Register, out byte src, out byte srcSize) || srcSize != size) return;
                f.Source = src;
                if (m == Mnemonic.Mov) kind = FastOpKind.StoreReg;
                else if (AluOf(m) is AluOperation op) { kind = FastOpKind.AluMemReg; f.Operation = (byte)op; }
                else return;
            }
            else if (k1 is OpKind.Immediate8to32 or OpKind.Immediate8to64 or OpKind.Immediate32 or OpKind.Immediate32to64)
            {
                f.Immediate = ins.GetImmediate(1);
                if (m == Mnemonic.Mov) kind = FastOpKind.StoreImm;
                else if (AluOf(m) is AluOperation op) { kind = FastOpKind.AluMemImm; f.Operation = (byte)op; }
                else return;
            }
            else return;
            if (!ClassifyMemory(ref ins, ref f)) return;
            f.Size = (byte)size;
            f.Kind = kind;
        }
    }
}
