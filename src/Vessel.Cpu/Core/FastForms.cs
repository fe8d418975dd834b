using System.Runtime.CompilerServices;
using Iced.Intel;
using FlagOp = Vessel.Cpu.X86Cpu.FlagOp;

namespace Vessel.Cpu;

/// <summary>Executes the <see cref="FastOp"/>s that <see cref="FastOpClassifier"/> made of decoded instructions:
/// register forms here, memory and stack forms in FastForms.Memory.cs. Static over the CPU, so a call costs what
/// it did as a method of <see cref="X86Cpu"/> (the run loop's call is inlined to it), with no state of its own;
/// the flags are <see cref="LazyFlags"/>' over the state block, memory <see cref="GuestMemoryAccess"/>'.</summary>
internal static partial class FastForms
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreSized(X86Cpu cpu, int index, int size, ulong value) =>
        cpu.Gpr[index] = size == 8 ? value : (uint)value;

    /// <summary>Executes a classified instruction; false for <see cref="FastOpKind.Generic"/>.</summary>
    public static bool Execute(X86Cpu cpu, ref FastOp f)
    {
        ref GprFile gpr = ref cpu.Gpr;
        switch (f.Kind)
        {
            case FastOpKind.AluRegReg:
                ExecuteAlu(cpu, ref f, gpr[f.Source]);
                return true;
            case FastOpKind.AluRegImm:
                ExecuteAlu(cpu, ref f, f.Immediate);
                return true;
            case FastOpKind.IncReg:
            {
                ulong a = gpr[f.Destination];
                ulong r = a + 1;
                LazyFlags.SetLazyIncDec(ref cpu.State, FlagOp.Inc, f.Size, a, r);
                StoreSized(cpu, f.Destination, f.Size, r);
                return true;
            }
            case FastOpKind.DecReg:
            {
                ulong a = gpr[f.Destination];
                ulong r = a - 1;
                LazyFlags.SetLazyIncDec(ref cpu.State, FlagOp.Dec, f.Size, a, r);
                StoreSized(cpu, f.Destination, f.Size, r);
                return true;
            }
            case FastOpKind.MovRegReg:
                StoreSized(cpu, f.Destination, f.Size, gpr[f.Source]);
                return true;
            case FastOpKind.MovRegImm:
                StoreSized(cpu, f.Destination, f.Size, f.Immediate);
                return true;
            case FastOpKind.Jcc:
                if (LazyFlags.Condition(ref cpu.State, (ConditionCode)f.Operation)) cpu.TakeConditionalBranch(f.Immediate);
                return true;
            case FastOpKind.Jmp:
                cpu.JumpNear(f.Immediate);
                return true;
            case FastOpKind.ShiftRegImm:
                ExecuteShift(cpu, ref f);
                return true;
            case FastOpKind.CmovRegReg:
                if (LazyFlags.Condition(ref cpu.State, (ConditionCode)f.Operation)) StoreSized(cpu, f.Destination, f.Size, gpr[f.Source]);
                else if (f.Size == 4) gpr[f.Destination] = (uint)gpr[f.Destination]; // 32-bit forms always zero the upper half
                return true;
            case FastOpKind.ImulRegReg:
                ExecuteImul(cpu, ref f, gpr[f.Destination]);
                return true;
            case FastOpKind.ImulRegRegImm:
                ExecuteImul(cpu, ref f, f.Immediate);
                return true;
            case FastOpKind.NotReg:
                StoreSized(cpu, f.Destination, f.Size, ~gpr[f.Destination]);
                return true;
            case FastOpKind.Nop:
                return true;
            case FastOpKind.MovzxRegReg:
                StoreSized(cpu, f.Destination, f.Size, gpr[f.Source] & LazyFlags.SizeMask(f.Operation));
                return true;
            case FastOpKind.MovsxRegReg:
                StoreSized(cpu, f.Destination, f.Size, (ulong)X86Cpu.SignExtend(gpr[f.Source], f.Operation));
                return true;
            case FastOpKind.Generic:
                return false;
            default:
                return ExecuteMemory(cpu, ref f);
        }
    }

    /// <summary>SHL/SHR/SAR of a full register by a non-zero immediate: all six flags are written, so the old
    /// ones need not be materialised. CF and OF are stored now; ZF/SF/PF stay lazy (AF is undefined: clear).</summary>
    private static void ExecuteShift(X86Cpu cpu, ref FastOp f)
    {
        int size = f.Size;
        int bits = size * 8;
        int count = (int)f.Immediate;
        ulong mask = size == 8 ? ulong.MaxValue : 0xFFFF_FFFF;
        ulong a = cpu.Gpr[f.Destination] & mask;
        ulong sign = 1UL << (bits - 1);
        ulong r;
        bool cf, of;
        switch ((ShiftOperation)f.Operation)
        {
            case ShiftOperation.Shl:
                r = (a << count) & mask;
                cf = ((a >> (bits - count)) & 1) != 0;
                of = ((r & sign) != 0) ^ cf;
                break;
            case ShiftOperation.Shr:
                r = a >> count;
                cf = ((a >> (count - 1)) & 1) != 0;
                of = (a & sign) != 0;
                break;
            default:
            {
                long sa = size == 8 ? (long)a : (int)a;
                r = (ulong)(sa >> count) & mask;
                cf = ((sa >> (count - 1)) & 1) != 0;
                of = false;
                break;
            }
        }
        ref CpuState state = ref cpu.State;
        state.Rflags = (state.Rflags & ~Hypervisor.RflagsBits.Arithmetic)
                       | (cf ? Hypervisor.RflagsBits.Cf : 0) | (of ? Hypervisor.RflagsBits.Of : 0);
        LazyFlags.SetLazy(ref state, FlagOp.Shift, size, 0, 0, r);
        cpu.Gpr[f.Destination] = r;
    }

    /// <summary>IMUL of the source register by <paramref name="other"/> into the destination, flags as the
    /// general IMUL sets them.</summary>
    private static void ExecuteImul(X86Cpu cpu, ref FastOp f, ulong other)
    {
        int size = f.Size;
        long x = size == 8 ? (long)cpu.Gpr[f.Source] : (int)cpu.Gpr[f.Source];
        long y = size == 8 ? (long)other : (int)other;
        long high = Math.BigMul(x, y, out long low);
        bool overflow = size == 8 ? high != (low >> 63) : low != (int)low;
        StoreSized(cpu, f.Destination, size, (ulong)low);
        cpu.SetMulFlags((ulong)low, size, overflow);
    }

    private static void ExecuteAlu(X86Cpu cpu, ref FastOp f, ulong b)
    {
        int size = f.Size;
        var op = (AluOperation)f.Operation;
        ulong a = cpu.Gpr[f.Destination];
        if (op is AluOperation.Cmp or AluOperation.Test)
        {
            AluFlagsOnly(ref cpu.State, op, size, a, b);
            return;
        }
        bool cf = op is AluOperation.Adc or AluOperation.Sbb && LazyFlags.GetCf(ref cpu.State);
        ulong r = AluResult(op, size, a, b, cf);
        cpu.Gpr[f.Destination] = r;
        AluSetFlags(ref cpu.State, op, size, a & LazyFlags.SizeMask(size), b & LazyFlags.SizeMask(size), r, cf);
    }

    /// <summary>The result of an ALU operation, truncated to <paramref name="size"/>; no state changes, so a
    /// memory destination can be written (and fault) before the flags are committed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong AluResult(AluOperation op, int size, ulong a, ulong b, bool carryIn)
    {
        ulong c = carryIn ? 1UL : 0;
        ulong r = op switch
        {
            AluOperation.Add => a + b,
            AluOperation.Adc => a + b + c,
            AluOperation.Sub or AluOperation.Cmp => a - b,
            AluOperation.Sbb => a - b - c,
            AluOperation.And or AluOperation.Test => a & b,
            AluOperation.Or => a | b,
            _ => a ^ b,
        };
        return r & LazyFlags.SizeMask(size);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AluSetFlags(ref CpuState state, AluOperation op, int size, ulong a, ulong b, ulong r, bool carryIn)
    {
        switch (op)
        {
            case AluOperation.Add: LazyFlags.SetLazy(ref state, FlagOp.Add, size, a, b, r); break;
            case AluOperation.Sub: case AluOperation.Cmp: LazyFlags.SetLazy(ref state, FlagOp.Sub, size, a, b, r); break;
            case AluOperation.Adc: LazyFlags.SetLazyAdcSbb(ref state, FlagOp.Adc, size, a, b, r, carryIn); break;
            case AluOperation.Sbb: LazyFlags.SetLazyAdcSbb(ref state, FlagOp.Sbb, size, a, b, r, carryIn); break;
            default: LazyFlags.SetLazy(ref state, FlagOp.Logic, size, 0, 0, r); break;
        }
    }

    /// <summary>CMP and TEST: flags only.</summary>
    private static void AluFlagsOnly(ref CpuState state, AluOperation op, int size, ulong a, ulong b)
    {
        ulong mask = LazyFlags.SizeMask(size);
        a &= mask;
        b &= mask;
        if (op == AluOperation.Cmp) LazyFlags.SetLazy(ref state, FlagOp.Sub, size, a, b, (a - b) & mask);
        else LazyFlags.SetLazy(ref state, FlagOp.Logic, size, 0, 0, a & b);
    }
}
