using System.Runtime.CompilerServices;

namespace Vessel.Cpu;

/// <summary>The pre-digested memory and stack forms (loads, stores, ALU with a memory operand, LEA, MOVZX,
/// PUSH/POP of a register, near CALL/RET) whose address form <see cref="FastOpClassifier"/> extracted at decode
/// time, so execution skips the generic operand decoding.</summary>
internal static partial class FastForms
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong EffectiveAddress(X86Cpu cpu, ref FastOp f)
    {
        ulong ea = f.Displacement;
        if (f.MemoryBase != FastOp.NoRegister) ea += cpu.Gpr[f.MemoryBase];
        if (f.MemoryIndex != FastOp.NoRegister) ea += cpu.Gpr[f.MemoryIndex] << f.MemoryScaleShift;
        return ea & f.AddressMask;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Linear(X86Cpu cpu, ref FastOp f, int size, AccessKind kind) =>
        cpu.SegmentedLinear(f.MemorySegment, EffectiveAddress(cpu, ref f), size, kind);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Load(X86Cpu cpu, ref FastOp f, int size) =>
        cpu.MemoryAccess.ReadLinear(Linear(cpu, ref f, size, AccessKind.Read), size, cpu.UserAccess);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(X86Cpu cpu, ref FastOp f, ulong value) =>
        cpu.MemoryAccess.WriteLinear(Linear(cpu, ref f, f.Size, AccessKind.Write), f.Size, value, cpu.UserAccess);

    /// <summary>Executes the memory and stack fast forms; false if <paramref name="f"/> is none of them.</summary>
    private static bool ExecuteMemory(X86Cpu cpu, ref FastOp f)
    {
        switch (f.Kind)
        {
            case FastOpKind.Lea:
                StoreSized(cpu, f.Destination, f.Size, EffectiveAddress(cpu, ref f));
                return true;
            case FastOpKind.LoadReg:
                StoreSized(cpu, f.Destination, f.Size, Load(cpu, ref f, f.Size));
                return true;
            case FastOpKind.LoadZeroExtend:
                StoreSized(cpu, f.Destination, f.Size, Load(cpu, ref f, f.Operation));
                return true;
            case FastOpKind.LoadSignExtend:
                StoreSized(cpu, f.Destination, f.Size, (ulong)X86Cpu.SignExtend(Load(cpu, ref f, f.Operation), f.Operation));
                return true;
            case FastOpKind.StoreReg:
                Store(cpu, ref f, cpu.Gpr[f.Source]);
                return true;
            case FastOpKind.StoreImm:
                Store(cpu, ref f, f.Immediate);
                return true;
            case FastOpKind.AluRegMem:
                ExecuteAlu(cpu, ref f, Load(cpu, ref f, f.Size));
                return true;
            case FastOpKind.AluMemReg:
                ExecuteAluMemory(cpu, ref f, cpu.Gpr[f.Source]);
                return true;
            case FastOpKind.AluMemImm:
                ExecuteAluMemory(cpu, ref f, f.Immediate);
                return true;
            case FastOpKind.PushReg:
                cpu.Push(cpu.Gpr[f.Source], 8);
                return true;
            case FastOpKind.PopReg:
                cpu.Gpr[f.Destination] = cpu.Pop(8);
                return true;
            case FastOpKind.CallNear:
            {
                ulong oldSp = cpu.Gpr[4];
                cpu.Push(cpu.Rip, 8);
                try
                {
                    cpu.JumpNear(f.Immediate);
                }
                catch (CpuFault)
                {
                    cpu.Gpr[4] = oldSp;
                    throw;
                }
                return true;
            }
            case FastOpKind.RetNear:
                cpu.JumpNear(cpu.PeekStack(0, 8));
                cpu.Gpr[4] += 8;
                return true;
            default:
                return false;
        }
    }

    /// <summary>ALU with a memory destination: CMP and TEST only read it.</summary>
    private static void ExecuteAluMemory(X86Cpu cpu, ref FastOp f, ulong b)
    {
        int size = f.Size;
        var op = (AluOperation)f.Operation;
        if (op is AluOperation.Cmp or AluOperation.Test)
        {
            AluFlagsOnly(ref cpu.State, op, size, Load(cpu, ref f, size), b);
            return;
        }
        GuestMemoryAccess memory = cpu.MemoryAccess;
        bool user = cpu.UserAccess;
        ulong linear = Linear(cpu, ref f, size, AccessKind.Write);
        memory.ProbeWritable(linear, size, user);
        ulong a = memory.ReadLinear(linear, size, user);
        bool cf = op is AluOperation.Adc or AluOperation.Sbb && LazyFlags.GetCf(ref cpu.State);
        ulong r = AluResult(op, size, a, b, cf);
        memory.WriteLinear(linear, size, r, user); // may fault: flags are committed only after it
        AluSetFlags(ref cpu.State, op, size, a, b & LazyFlags.SizeMask(size), r, cf);
    }
}
