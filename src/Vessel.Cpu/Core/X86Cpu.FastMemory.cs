using System.Runtime.CompilerServices;
using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>Executes the pre-digested memory and stack forms (loads, stores, ALU with a memory operand, LEA, MOVZX,
/// PUSH/POP of a register, near CALL/RET) whose address form <see cref="FastOpClassifier"/> extracted at decode
/// time, so execution skips the generic operand decoding.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>Fills the memory-operand fields of <paramref name="f"/> (see <see cref="FastOpClassifier.ClassifyMemory"/>).</summary>
    internal static bool ClassifyMemory(ref Instruction ins, ref FastOp f) => FastOpClassifier.ClassifyMemory(ref ins, ref f);

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
