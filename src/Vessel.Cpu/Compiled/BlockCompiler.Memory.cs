using System.Reflection;
using System.Reflection.Emit;
using Iced.Intel;
using Label = System.Reflection.Emit.Label;

namespace Vessel.Cpu;

/// <summary>The inline memory forms of 64-bit blocks: TLB probe, loads, stores, PUSH/POP, ALU with memory, CALL and RET.</summary>
internal sealed partial class BlockCompiler
{
    // ---------------------------------------------------------------- inline memory access (64-bit code)
    //
    // A load or store whose page the vCPU's TLB already maps to host RAM (and, for the write TLB, to a page
    // that is writable and holds no decoded code) is done right here; anything else -- a TLB miss, a page
    // crossing, MMIO, a fault -- runs the instruction through the interpreter as before. A tag match also
    // proves the address canonical: the TLB is only filled from canonical addresses.

    private void EmitMemoryPrologue()
    {
        EmitStateAddress(CpuStateLayout.Cpl);
        IL.Emit(OpCodes.Ldind_I4);
        IL.Emit(OpCodes.Ldc_I4_3);
        IL.Emit(OpCodes.Ceq);
        IL.Emit(OpCodes.Conv_U8);
        IL.Emit(OpCodes.Stloc, _userBit);
        IL.Emit(OpCodes.Ldarg_1);
        IL.Emit(OpCodes.Call, MemoryUnitGetter);
        IL.Emit(OpCodes.Dup);
        IL.Emit(OpCodes.Ldfld, ReadTlbField);
        IL.Emit(OpCodes.Stloc, _readTlb);
        IL.Emit(OpCodes.Ldfld, WriteTlbField);
        IL.Emit(OpCodes.Stloc, _writeTlb);
    }

    /// <summary>_lin = the linear address of the fast form's memory operand (FS/GS add their base in 64-bit mode).</summary>
    private void EmitLinear(ref FastOp f)
    {
        EmitEffectiveAddress(ref f);
        if (f.MemorySegment >= X86Cpu.FS)
        {
            EmitLoadState64(CpuStateLayout.SegmentBaseAt(f.MemorySegment));
            IL.Emit(OpCodes.Add);
        }
        IL.Emit(OpCodes.Stloc, _lin);
    }

    /// <summary>Looks _lin up in a TLB for an access of <paramref name="size"/> bytes: on a hit inside one page,
    /// _ptr is the host address; otherwise control goes to <paramref name="miss"/>.</summary>
    private void EmitProbe(LocalBuilder tlb, int size, Label miss)
    {
        IL.Emit(OpCodes.Ldloc, tlb);
        IL.Emit(OpCodes.Ldloc, _lin);
        IL.Emit(OpCodes.Ldc_I4, size);
        IL.Emit(OpCodes.Ldloc, _userBit);
        IL.Emit(OpCodes.Call, ProbeMethod);
        IL.Emit(OpCodes.Dup);
        IL.Emit(OpCodes.Stloc, _ptr);
        IL.Emit(OpCodes.Brfalse, miss);
    }

    /// <summary>Pushes the <paramref name="size"/>-byte value at _ptr, zero-extended to 64 bits.</summary>
    private void EmitLoadPtr(int size)
    {
        IL.Emit(OpCodes.Ldloc, _ptr);
        if (size > 1) IL.Emit(OpCodes.Unaligned, (byte)1);
        switch (size)
        {
            case 1: IL.Emit(OpCodes.Ldind_U1); IL.Emit(OpCodes.Conv_U8); break;
            case 2: IL.Emit(OpCodes.Ldind_U2); IL.Emit(OpCodes.Conv_U8); break;
            case 4: IL.Emit(OpCodes.Ldind_U4); IL.Emit(OpCodes.Conv_U8); break;
            default: IL.Emit(OpCodes.Ldind_I8); break;
        }
    }

    /// <summary>Stores the low <paramref name="size"/> bytes of what <paramref name="value"/> pushes at _ptr.</summary>
    private void EmitStorePtr(int size, Action value)
    {
        IL.Emit(OpCodes.Ldloc, _ptr);
        value();
        switch (size)
        {
            case 1: IL.Emit(OpCodes.Conv_U1); IL.Emit(OpCodes.Stind_I1); break;
            case 2: IL.Emit(OpCodes.Conv_U2); IL.Emit(OpCodes.Unaligned, (byte)1); IL.Emit(OpCodes.Stind_I2); break;
            case 4: IL.Emit(OpCodes.Conv_U4); IL.Emit(OpCodes.Unaligned, (byte)1); IL.Emit(OpCodes.Stind_I4); break;
            default: IL.Emit(OpCodes.Unaligned, (byte)1); IL.Emit(OpCodes.Stind_I8); break;
        }
    }

    /// <summary>The interpreter's run of instruction <paramref name="index"/> after a TLB miss, then on to <paramref name="done"/>.</summary>
    private void EmitSlowPath(Label miss, Label done, ref Instruction ins, int index, bool last)
    {
        IL.Emit(OpCodes.Br, done);
        IL.MarkLabel(miss);
        EmitStep(ref ins, index, last);
        IL.MarkLabel(done);
    }

    /// <summary>Loads, stores, PUSH and POP of a register, inline on a TLB hit. None touches the flag locals, so
    /// the producer before them stays known.</summary>
    private void EmitInlineMemory(ref FastOp f, ref Instruction ins, int index, bool last)
    {
        Label miss = IL.DefineLabel(), done = IL.DefineLabel();
        int size = f.Size;
        switch (f.Kind)
        {
            case FastOpKind.LoadReg:
                EmitLinear(ref f);
                EmitProbe(_readTlb, size, miss);
                EmitLoadPtr(size);
                IL.Emit(OpCodes.Stloc, _mem);
                EmitStoreGpr(f.Destination, () => IL.Emit(OpCodes.Ldloc, _mem), 8);
                break;
            case FastOpKind.LoadZeroExtend:
                EmitLinear(ref f);
                EmitProbe(_readTlb, f.Operation, miss);
                EmitLoadPtr(f.Operation);
                IL.Emit(OpCodes.Stloc, _mem);
                EmitStoreGpr(f.Destination, () => IL.Emit(OpCodes.Ldloc, _mem), 8);
                break;
            case FastOpKind.LoadSignExtend:
            {
                int from = f.Operation;
                EmitLinear(ref f);
                EmitProbe(_readTlb, from, miss);
                EmitLoadPtr(from);
                IL.Emit(OpCodes.Stloc, _mem);
                EmitStoreGpr(f.Destination, () => { IL.Emit(OpCodes.Ldloc, _mem); EmitExtend(from, signed: true); }, size);
                break;
            }
            case FastOpKind.StoreReg:
            {
                int source = f.Source;
                EmitLinear(ref f);
                EmitProbe(_writeTlb, size, miss);
                EmitStorePtr(size, () => EmitLoadGpr(source));
                break;
            }
            case FastOpKind.StoreImm:
            {
                long value = (long)f.Immediate;
                EmitLinear(ref f);
                EmitProbe(_writeTlb, size, miss);
                EmitStorePtr(size, () => IL.Emit(OpCodes.Ldc_I8, value));
                break;
            }
            case FastOpKind.PushReg:
            {
                int source = f.Source;
                EmitLoadGpr(4);
                IL.Emit(OpCodes.Ldc_I8, 8L);
                IL.Emit(OpCodes.Sub);
                IL.Emit(OpCodes.Stloc, _lin);
                EmitProbe(_writeTlb, 8, miss);
                EmitStorePtr(8, () => EmitLoadGpr(source));
                EmitStoreGpr(4, () => IL.Emit(OpCodes.Ldloc, _lin), 8);
                break;
            }
            default: // PopReg (never of RSP)
                EmitLoadGpr(4);
                IL.Emit(OpCodes.Stloc, _lin);
                EmitProbe(_readTlb, 8, miss);
                EmitLoadPtr(8);
                IL.Emit(OpCodes.Stloc, _mem);
                EmitStoreGpr(f.Destination, () => IL.Emit(OpCodes.Ldloc, _mem), 8);
                EmitStoreGpr(4, () => { IL.Emit(OpCodes.Ldloc, _lin); IL.Emit(OpCodes.Ldc_I8, 8L); IL.Emit(OpCodes.Add); }, 8);
                break;
        }
        EmitSlowPath(miss, done, ref ins, index, last);
    }

    /// <summary>ALU with a memory operand (not ADC/SBB): reg op= [mem], [mem] op= reg/imm, and CMP/TEST of
    /// memory. A read-modify-write goes through the write TLB (a writable RAM page is readable). After the
    /// interpreter's slow path the flag locals are reloaded from the lazy-flag fields it set, so both paths
    /// leave the same producer for the next Jcc.</summary>
    private void EmitInlineMemoryAlu(ref FastOp f, ref Instruction ins, int index, bool last, bool live)
    {
        Label miss = IL.DefineLabel(), done = IL.DefineLabel();
        var op = (AluOperation)f.Operation;
        int size = f.Size;
        bool readOnly = f.Kind == FastOpKind.AluRegMem || op is AluOperation.Cmp or AluOperation.Test;
        EmitLinear(ref f);
        EmitProbe(readOnly ? _readTlb : _writeTlb, size, miss);
        EmitLoadPtr(size);
        IL.Emit(OpCodes.Stloc, _mem);
        if (f.Kind == FastOpKind.AluRegMem)
        {
            int d = f.Destination;
            EmitAluCore(op, size, () => EmitLoadGpr(d), () => IL.Emit(OpCodes.Ldloc, _mem), live,
                () => EmitStoreGpr(d, () => IL.Emit(OpCodes.Ldloc, _r), 8));
        }
        else
        {
            int s = f.Source;
            long imm = (long)f.Immediate;
            Action loadB = f.Kind == FastOpKind.AluMemReg ? () => EmitLoadGpr(s) : () => IL.Emit(OpCodes.Ldc_I8, imm);
            EmitAluCore(op, size, () => IL.Emit(OpCodes.Ldloc, _mem), loadB, live,
                () => EmitStorePtr(size, () => IL.Emit(OpCodes.Ldloc, _r)));
        }
        Producer producer = _producer;
        int producerSize = _producerSize;
        IL.Emit(OpCodes.Br, done);
        IL.MarkLabel(miss);
        EmitStep(ref ins, index, last);
        if (!last)
        {
            EmitReloadFlagLocals();
        }
        IL.MarkLabel(done);
        _producer = producer;
        _producerSize = producerSize;
    }

    private void EmitReloadFlagLocals()
    {
        EmitLoadState64(CpuStateLayout.FlagA);
        IL.Emit(OpCodes.Stloc, _a);
        EmitLoadState64(CpuStateLayout.FlagB);
        IL.Emit(OpCodes.Stloc, _b);
        EmitLoadState64(CpuStateLayout.FlagResult);
        IL.Emit(OpCodes.Stloc, _r);
    }

    /// <summary>A near CALL to a canonical target: the return address pushed inline on a TLB hit, then RIP set
    /// and the block left (a CALL always ends its block).</summary>
    private void EmitInlineCall(ref FastOp f, ref Instruction ins, int index)
    {
        Label miss = IL.DefineLabel();
        ulong returnAddress = ins.NextIP;
        EmitLoadGpr(4);
        IL.Emit(OpCodes.Ldc_I8, 8L);
        IL.Emit(OpCodes.Sub);
        IL.Emit(OpCodes.Stloc, _lin);
        EmitProbe(_writeTlb, 8, miss);
        EmitStorePtr(8, () => IL.Emit(OpCodes.Ldc_I8, (long)returnAddress));
        EmitStoreGpr(4, () => IL.Emit(OpCodes.Ldloc, _lin), 8);
        EmitSetRip(f.Immediate);
        EmitLeave();
        IL.MarkLabel(miss);
        EmitStep(ref ins, index, last: true);
    }

    /// <summary>A near RET: the return address popped inline on a TLB hit and, when canonical, jumped to.</summary>
    private void EmitInlineRet(ref Instruction ins, int index)
    {
        Label miss = IL.DefineLabel();
        EmitLoadGpr(4);
        IL.Emit(OpCodes.Stloc, _lin);
        EmitProbe(_readTlb, 8, miss);
        EmitLoadPtr(8);
        IL.Emit(OpCodes.Stloc, _mem);
        // A non-canonical return address faults (#GP) in the interpreter.
        IL.Emit(OpCodes.Ldloc, _mem);
        IL.Emit(OpCodes.Ldc_I4, 16);
        IL.Emit(OpCodes.Shl);
        IL.Emit(OpCodes.Ldc_I4, 16);
        IL.Emit(OpCodes.Shr);
        IL.Emit(OpCodes.Ldloc, _mem);
        IL.Emit(OpCodes.Bne_Un, miss);
        EmitStoreGpr(4, () => { IL.Emit(OpCodes.Ldloc, _lin); IL.Emit(OpCodes.Ldc_I8, 8L); IL.Emit(OpCodes.Add); }, 8);
        EmitStateAddress(CpuStateLayout.Rip);
        IL.Emit(OpCodes.Ldloc, _mem);
        IL.Emit(OpCodes.Stind_I8);
        EmitLeave();
        IL.MarkLabel(miss);
        EmitStep(ref ins, index, last: true);
    }

    private void EmitCompareOperand(LocalBuilder value, bool signed)
    {
        IL.Emit(OpCodes.Ldloc, value);
        if (signed && _producerSize == 4) { IL.Emit(OpCodes.Conv_I4); IL.Emit(OpCodes.Conv_I8); }
    }
}
