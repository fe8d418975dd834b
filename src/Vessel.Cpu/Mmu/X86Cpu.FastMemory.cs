using System.Runtime.CompilerServices;
using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>Pre-digested forms of the commonest memory and stack instructions of compiled code (loads, stores,
/// ALU with a memory operand, LEA, MOVZX, PUSH/POP of a register, near CALL/RET): the address form is
/// extracted once at decode time, so execution skips the generic operand decoding.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>Fills the memory-operand fields of <paramref name="f"/>; false if the form is not plain
    /// (a 16-bit address, a segment override in 64-bit code is fine, but no 8/16-bit base registers).</summary>
    internal static bool ClassifyMemory(ref Instruction ins, ref FastOp f)
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
    private static void ClassifyMemoryForms(ref Instruction ins, ref FastOp f, int bitness)
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong FastEffectiveAddress(ref FastOp f)
    {
        ulong ea = f.Displacement;
        if (f.MemoryBase != FastOp.NoRegister) ea += Gpr[f.MemoryBase];
        if (f.MemoryIndex != FastOp.NoRegister) ea += Gpr[f.MemoryIndex] << f.MemoryScaleShift;
        return ea & f.AddressMask;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong FastLinear(ref FastOp f, int size, AccessKind kind) =>
        SegmentedLinear(f.MemorySegment, FastEffectiveAddress(ref f), size, kind);

    /// <summary>Executes the memory and stack fast forms; false if <paramref name="f"/> is none of them.</summary>
    private bool ExecuteFastMemory(ref FastOp f)
    {
        switch (f.Kind)
        {
            case FastOpKind.Lea:
                StoreSized(f.Destination, f.Size, FastEffectiveAddress(ref f));
                return true;
            case FastOpKind.LoadReg:
                StoreSized(f.Destination, f.Size, ReadLinear(FastLinear(ref f, f.Size, AccessKind.Read), f.Size, UserAccess));
                return true;
            case FastOpKind.LoadZeroExtend:
                StoreSized(f.Destination, f.Size, ReadLinear(FastLinear(ref f, f.Operation, AccessKind.Read), f.Operation, UserAccess));
                return true;
            case FastOpKind.LoadSignExtend:
                StoreSized(f.Destination, f.Size,
                    (ulong)SignExtend(ReadLinear(FastLinear(ref f, f.Operation, AccessKind.Read), f.Operation, UserAccess), f.Operation));
                return true;
            case FastOpKind.StoreReg:
                WriteLinear(FastLinear(ref f, f.Size, AccessKind.Write), f.Size, Gpr[f.Source], UserAccess);
                return true;
            case FastOpKind.StoreImm:
                WriteLinear(FastLinear(ref f, f.Size, AccessKind.Write), f.Size, f.Immediate, UserAccess);
                return true;
            case FastOpKind.AluRegMem:
                ExecuteFastAlu(ref f, ReadLinear(FastLinear(ref f, f.Size, AccessKind.Read), f.Size, UserAccess));
                return true;
            case FastOpKind.AluMemReg:
                ExecuteFastAluMemory(ref f, Gpr[f.Source]);
                return true;
            case FastOpKind.AluMemImm:
                ExecuteFastAluMemory(ref f, f.Immediate);
                return true;
            case FastOpKind.PushReg:
                Push(Gpr[f.Source], 8);
                return true;
            case FastOpKind.PopReg:
                Gpr[f.Destination] = Pop(8);
                return true;
            case FastOpKind.CallNear:
            {
                ulong oldSp = Gpr[4];
                Push(Rip, 8);
                try
                {
                    JumpNear(f.Immediate);
                }
                catch (CpuFault)
                {
                    Gpr[4] = oldSp;
                    throw;
                }
                return true;
            }
            case FastOpKind.RetNear:
                JumpNear(PeekStack(0, 8));
                Gpr[4] += 8;
                return true;
            default:
                return false;
        }
    }

    /// <summary>ALU with a memory destination: CMP and TEST only read it.</summary>
    private void ExecuteFastAluMemory(ref FastOp f, ulong b)
    {
        int size = f.Size;
        var op = (AluOperation)f.Operation;
        if (op is AluOperation.Cmp or AluOperation.Test)
        {
            ulong value = ReadLinear(FastLinear(ref f, size, AccessKind.Read), size, UserAccess);
            AluFlagsOnly(op, size, value, b);
            return;
        }
        ulong linear = FastLinear(ref f, size, AccessKind.Write);
        ProbeWritable(linear, size);
        ulong a = ReadLinear(linear, size, UserAccess);
        bool cf = op is AluOperation.Adc or AluOperation.Sbb && GetCf();
        ulong r = AluResult(op, size, a, b, cf);
        WriteLinear(linear, size, r, UserAccess); // may fault: flags are committed only after it
        AluSetFlags(op, size, a, b & SizeMask(size), r, cf);
    }
}
