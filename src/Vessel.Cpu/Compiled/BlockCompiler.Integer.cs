using System.Reflection;
using System.Reflection.Emit;
using Iced.Intel;
using Label = System.Reflection.Emit.Label;

namespace Vessel.Cpu;

/// <summary>The inline integer forms: register ALU, lazy flags, INC/DEC, shifts, branches and their conditions, CMOV, IMUL.</summary>
internal sealed partial class BlockCompiler
{
    private void EmitAlu(ref FastOp f, bool live)
    {
        int d = f.Destination, source = f.Source;
        long imm = (long)f.Immediate;
        Action loadB = f.Kind == FastOpKind.AluRegReg ? () => EmitLoadGpr(source) : () => IL.Emit(OpCodes.Ldc_I8, imm);
        EmitAluCore((AluOperation)f.Operation, f.Size, () => EmitLoadGpr(d), loadB, live,
            () => EmitStoreGpr(d, () => IL.Emit(OpCodes.Ldloc, _r), 8));
    }

    /// <summary>a = loadA, b = loadB (masked to the size), r = a op b; storeResult unless CMP/TEST; the flags
    /// recorded lazily when live, and the producer noted for inline conditions.</summary>
    private void EmitAluCore(AluOperation op, int size, Action loadA, Action loadB, bool live, Action storeResult)
    {
        loadA();
        EmitMaskTo(size);
        IL.Emit(OpCodes.Stloc, _a);
        loadB();
        EmitMaskTo(size);
        IL.Emit(OpCodes.Stloc, _b);
        IL.Emit(OpCodes.Ldloc, _a);
        IL.Emit(OpCodes.Ldloc, _b);
        IL.Emit(op switch
        {
            AluOperation.Add => OpCodes.Add,
            AluOperation.Sub or AluOperation.Cmp => OpCodes.Sub,
            AluOperation.And or AluOperation.Test => OpCodes.And,
            AluOperation.Or => OpCodes.Or,
            _ => OpCodes.Xor,
        });
        EmitMaskTo(size);
        IL.Emit(OpCodes.Stloc, _r);
        if (op is not (AluOperation.Cmp or AluOperation.Test)) storeResult();
        _producer = op switch
        {
            AluOperation.Sub or AluOperation.Cmp => Producer.Sub,
            AluOperation.Add => Producer.Add,
            _ => Producer.Logic,
        };
        _producerSize = size;
        if (!live) return;
        bool logic = _producer == Producer.Logic;
        byte flagOp = _producer switch
        {
            Producer.Add => X86Cpu.JitFlagOpAdd,
            Producer.Sub => X86Cpu.JitFlagOpSub,
            _ => X86Cpu.JitFlagOpLogic,
        };
        EmitStoreFlags(flagOp, size, logic ? null : _a, logic ? null : _b);
    }

    private void EmitStoreFlags(byte flagOp, int size, LocalBuilder? a, LocalBuilder? b)
    {
        EmitStateAddress(CpuStateLayout.FlagOp);
        IL.Emit(OpCodes.Ldc_I4, (int)flagOp);
        IL.Emit(OpCodes.Stind_I1);
        EmitStateAddress(CpuStateLayout.FlagSize);
        IL.Emit(OpCodes.Ldc_I4, size);
        IL.Emit(OpCodes.Stind_I4);
        EmitStateAddress(CpuStateLayout.FlagA);
        if (a is null) IL.Emit(OpCodes.Ldc_I8, 0L); else IL.Emit(OpCodes.Ldloc, a);
        IL.Emit(OpCodes.Stind_I8);
        EmitStateAddress(CpuStateLayout.FlagB);
        if (b is null) IL.Emit(OpCodes.Ldc_I8, 0L); else IL.Emit(OpCodes.Ldloc, b);
        IL.Emit(OpCodes.Stind_I8);
        EmitStateAddress(CpuStateLayout.FlagResult);
        IL.Emit(OpCodes.Ldloc, _r);
        IL.Emit(OpCodes.Stind_I8);
    }

    private void EmitIncDec(ref FastOp f, bool live)
    {
        bool inc = f.Kind == FastOpKind.IncReg;
        if (live)
        {
            IL.Emit(OpCodes.Ldarg_1);
            IL.Emit(OpCodes.Call, KeepCarryMethod);
        }
        EmitLoadGpr(f.Destination);
        IL.Emit(OpCodes.Stloc, _a);
        IL.Emit(OpCodes.Ldloc, _a);
        IL.Emit(OpCodes.Ldc_I8, 1L);
        IL.Emit(inc ? OpCodes.Add : OpCodes.Sub);
        EmitMaskTo(f.Size);
        IL.Emit(OpCodes.Stloc, _r);
        EmitStoreGpr(f.Destination, () => IL.Emit(OpCodes.Ldloc, _r), 8);
        _producer = Producer.IncDec;
        _producerSize = f.Size;
        // As the interpreter records INC/DEC: A = the old value, B = 1; flag evaluation masks to the size.
        if (live) EmitStoreFlags(inc ? X86Cpu.JitFlagOpInc : X86Cpu.JitFlagOpDec, f.Size, _a, _one);
    }

    /// <summary>SHL/SHR/SAR by a non-zero immediate: the result; with live flags, CF and OF into RFLAGS and
    /// ZF/SF/PF left lazy on the result, as the interpreter's fast shift does.</summary>
    private void EmitShift(ref FastOp f, bool live)
    {
        int size = f.Size, count = (int)f.Immediate, bits = size * 8;
        var op = (ShiftOperation)f.Operation;
        ulong sign = size == 8 ? 1UL << 63 : 1UL << 31;
        EmitLoadGpr(f.Destination);
        if (op == ShiftOperation.Sar && size == 4) { IL.Emit(OpCodes.Conv_I4); IL.Emit(OpCodes.Conv_I8); }
        else EmitMaskTo(size);
        IL.Emit(OpCodes.Stloc, _a);
        IL.Emit(OpCodes.Ldloc, _a);
        IL.Emit(OpCodes.Ldc_I4, count);
        IL.Emit(op switch { ShiftOperation.Shl => OpCodes.Shl, ShiftOperation.Shr => OpCodes.Shr_Un, _ => OpCodes.Shr });
        EmitMaskTo(size);
        IL.Emit(OpCodes.Stloc, _r);
        int index = f.Destination;
        EmitStoreGpr(index, () => IL.Emit(OpCodes.Ldloc, _r), 8);
        _producer = Producer.Shift;
        _producerSize = size;
        // CF: the last bit shifted out.
        IL.Emit(OpCodes.Ldloc, _a);
        IL.Emit(OpCodes.Ldc_I4, op == ShiftOperation.Shl ? bits - count : count - 1);
        IL.Emit(OpCodes.Shr_Un);
        IL.Emit(OpCodes.Ldc_I8, 1L);
        IL.Emit(OpCodes.And);
        IL.Emit(OpCodes.Stloc, _carry);
        if (!live) return;
        // RFLAGS = (RFLAGS & ~arithmetic) | CF | OF
        EmitStateAddress(CpuStateLayout.Rflags);
        EmitLoadState64(CpuStateLayout.Rflags);
        IL.Emit(OpCodes.Ldc_I8, unchecked((long)~Hypervisor.RflagsBits.Arithmetic));
        IL.Emit(OpCodes.And);
        IL.Emit(OpCodes.Ldloc, _carry); // CF is bit 0
        IL.Emit(OpCodes.Or);
        switch (op)
        {
            case ShiftOperation.Shl: // OF = top bit of the result XOR CF
                IL.Emit(OpCodes.Ldloc, _r);
                IL.Emit(OpCodes.Ldc_I4, bits - 1);
                IL.Emit(OpCodes.Shr_Un);
                IL.Emit(OpCodes.Ldloc, _carry);
                IL.Emit(OpCodes.Xor);
                IL.Emit(OpCodes.Ldc_I8, 1L);
                IL.Emit(OpCodes.And);
                IL.Emit(OpCodes.Ldc_I4, 11);
                IL.Emit(OpCodes.Shl);
                IL.Emit(OpCodes.Or);
                break;
            case ShiftOperation.Shr: // OF = the operand's top bit
                IL.Emit(OpCodes.Ldloc, _a);
                IL.Emit(OpCodes.Ldc_I8, (long)sign);
                IL.Emit(OpCodes.And);
                IL.Emit(OpCodes.Ldc_I4, bits - 1 - 11);
                IL.Emit(OpCodes.Shr_Un);
                IL.Emit(OpCodes.Or);
                break;
        }
        IL.Emit(OpCodes.Stind_I8);
        EmitStoreFlags(X86Cpu.JitFlagOpShift, size, null, null);
    }

    private void EmitSetRip(ulong value)
    {
        EmitStateAddress(CpuStateLayout.Rip);
        IL.Emit(OpCodes.Ldc_I8, (long)value);
        IL.Emit(OpCodes.Stind_I8);
    }

    private void EmitSetInstructionStart(ulong ip)
    {
        EmitStateAddress(CpuStateLayout.InstructionStart);
        IL.Emit(OpCodes.Ldc_I8, (long)Mask(ip));
        IL.Emit(OpCodes.Stind_I8);
    }

    /// <summary>Calls the interpreter for instruction <paramref name="index"/>; leaves the block if it ended it.</summary>
    private void EmitStep(ref Instruction ins, int index, bool last)
    {
        EmitSetInstructionStart(ins.IP);
        EmitSetRip(Mask(ins.NextIP));
        IL.Emit(OpCodes.Ldarg_1);
        IL.Emit(OpCodes.Ldarg_0);
        IL.Emit(OpCodes.Ldc_I4, index);
        IL.Emit(OpCodes.Call, StepMethod);
        if (last)
        {
            IL.Emit(OpCodes.Pop);
            EmitLeave();
            return;
        }
        Label go = IL.DefineLabel();
        IL.Emit(OpCodes.Brfalse, go);
        EmitLeave();
        IL.MarkLabel(go);
    }

    /// <summary>A taken branch to <paramref name="target"/>: loops when it is the block's own start, else sets RIP
    /// (directly for a canonical 64-bit target, through JumpNear's checks otherwise) and leaves.</summary>
    private void EmitTakenBranch(ref Instruction ins, ulong target)
    {
        if (_loopBudget is not null && target == _block.StartRip)
        {
            IL.Emit(OpCodes.Ldloc, _loopBudget);
            IL.Emit(OpCodes.Ldc_I4_1);
            IL.Emit(OpCodes.Sub);
            IL.Emit(OpCodes.Dup);
            IL.Emit(OpCodes.Stloc, _loopBudget);
            IL.Emit(OpCodes.Brtrue, _loopTop);
            EmitSetRip(target);
            EmitLeave();
            return;
        }
        if (_bitness == 64 && LinearAddress.IsCanonical(target))
        {
            EmitSetRip(target);
        }
        else
        {
            EmitSetInstructionStart(ins.IP);
            EmitSetRip(Mask(ins.NextIP)); // where a fault in JumpNear expects RIP, as in the interpreter
            IL.Emit(OpCodes.Ldarg_1);
            IL.Emit(OpCodes.Ldc_I8, (long)target);
            IL.Emit(OpCodes.Call, JumpNearMethod);
        }
        EmitLeave();
    }

    /// <summary>A Jcc: taken, it jumps inside the block or leaves it; not taken, it falls through (the last
    /// instruction leaves with RIP after it).</summary>
    private void EmitConditionalBranch(ref FastOp f, ref Instruction ins, int index, bool last)
    {
        var cc = (ConditionCode)f.Operation;
        if (!EmitInlineCondition(cc))
        {
            IL.Emit(OpCodes.Ldarg_1);
            IL.Emit(OpCodes.Ldc_I4, (int)cc);
            IL.Emit(OpCodes.Call, ConditionMethod);
        }
        if (!last && InBlockTarget(index) is int target)
        {
            IL.Emit(OpCodes.Brtrue, _instructionLabels[target]);
            return;
        }
        Label notTaken = IL.DefineLabel();
        IL.Emit(OpCodes.Brfalse, notTaken);
        EmitTakenBranch(ref ins, f.Immediate);
        IL.MarkLabel(notTaken);
        if (!last) return;
        EmitSetRip(Mask(ins.NextIP));
        EmitLeave();
    }

    /// <summary>Pushes the branch condition computed from the producer's operands, or returns false.</summary>
    private bool EmitInlineCondition(ConditionCode cc)
    {
        if (_producer == Producer.Unknown) return false;
        ulong sign = _producerSize == 8 ? 1UL << 63 : 1UL << 31;
        switch (cc)
        {
            case ConditionCode.e or ConditionCode.ne:
                IL.Emit(OpCodes.Ldloc, _r);
                IL.Emit(OpCodes.Ldc_I8, 0L);
                IL.Emit(OpCodes.Ceq);
                if (cc == ConditionCode.ne) { IL.Emit(OpCodes.Ldc_I4_0); IL.Emit(OpCodes.Ceq); }
                return true;
            case ConditionCode.s or ConditionCode.ns:
                IL.Emit(OpCodes.Ldloc, _r);
                IL.Emit(OpCodes.Ldc_I8, (long)sign);
                IL.Emit(OpCodes.And);
                IL.Emit(OpCodes.Ldc_I8, 0L);
                IL.Emit(OpCodes.Ceq);
                if (cc == ConditionCode.s) { IL.Emit(OpCodes.Ldc_I4_0); IL.Emit(OpCodes.Ceq); }
                return true;
        }
        if (_producer == Producer.Shift && cc is ConditionCode.b or ConditionCode.ae)
        {
            IL.Emit(OpCodes.Ldloc, _carry);
            IL.Emit(OpCodes.Ldc_I8, 0L);
            IL.Emit(cc == ConditionCode.b ? OpCodes.Cgt_Un : OpCodes.Ceq);
            return true;
        }
        if (_producer != Producer.Sub) return false;
        // a and b hold the operands masked to the operand size; signed compares sign-extend them first.
        bool signed = cc is ConditionCode.l or ConditionCode.ge or ConditionCode.le or ConditionCode.g;
        if (!signed && cc is not (ConditionCode.b or ConditionCode.ae or ConditionCode.be or ConditionCode.a)) return false;
        EmitCompareOperand(_a, signed);
        EmitCompareOperand(_b, signed);
        switch (cc)
        {
            case ConditionCode.b: IL.Emit(OpCodes.Clt_Un); break;
            case ConditionCode.a: IL.Emit(OpCodes.Cgt_Un); break;
            case ConditionCode.ae: IL.Emit(OpCodes.Clt_Un); IL.Emit(OpCodes.Ldc_I4_0); IL.Emit(OpCodes.Ceq); break;
            case ConditionCode.be: IL.Emit(OpCodes.Cgt_Un); IL.Emit(OpCodes.Ldc_I4_0); IL.Emit(OpCodes.Ceq); break;
            case ConditionCode.l: IL.Emit(OpCodes.Clt); break;
            case ConditionCode.g: IL.Emit(OpCodes.Cgt); break;
            case ConditionCode.ge: IL.Emit(OpCodes.Clt); IL.Emit(OpCodes.Ldc_I4_0); IL.Emit(OpCodes.Ceq); break;
            default: IL.Emit(OpCodes.Cgt); IL.Emit(OpCodes.Ldc_I4_0); IL.Emit(OpCodes.Ceq); break;
        }
        return true;
    }

    // ---------------------------------------------------------------- inline forms without memory

    /// <summary>Pushes the effective address of a memory fast form (no segment base), masked to its address size.</summary>
    private void EmitEffectiveAddress(ref FastOp f)
    {
        IL.Emit(OpCodes.Ldc_I8, (long)f.Displacement);
        if (f.MemoryBase != FastOp.NoRegister)
        {
            EmitLoadGpr(f.MemoryBase);
            IL.Emit(OpCodes.Add);
        }
        if (f.MemoryIndex != FastOp.NoRegister)
        {
            EmitLoadGpr(f.MemoryIndex);
            if (f.MemoryScaleShift != 0)
            {
                IL.Emit(OpCodes.Ldc_I4, (int)f.MemoryScaleShift);
                IL.Emit(OpCodes.Shl);
            }
            IL.Emit(OpCodes.Add);
        }
        if (f.AddressMask != ulong.MaxValue)
        {
            IL.Emit(OpCodes.Conv_U4);
            IL.Emit(OpCodes.Conv_U8);
        }
    }

    /// <summary>Zero- or sign-extends the low <paramref name="from"/> bytes of the ulong on the stack to 64 bits.</summary>
    private void EmitExtend(int from, bool signed)
    {
        switch (from)
        {
            case 1: IL.Emit(signed ? OpCodes.Conv_I1 : OpCodes.Conv_U1); break;
            case 2: IL.Emit(signed ? OpCodes.Conv_I2 : OpCodes.Conv_U2); break;
            case 4: IL.Emit(signed ? OpCodes.Conv_I4 : OpCodes.Conv_U4); break;
            default: return;
        }
        IL.Emit(signed ? OpCodes.Conv_I8 : OpCodes.Conv_U8);
    }

    /// <summary>CMOVcc reg, reg: the condition from the producer's locals where possible. The 32-bit form zeroes
    /// the destination's upper half even when it does not move.</summary>
    private void EmitCmov(ref FastOp f)
    {
        var cc = (ConditionCode)f.Operation;
        if (!EmitInlineCondition(cc))
        {
            IL.Emit(OpCodes.Ldarg_1);
            IL.Emit(OpCodes.Ldc_I4, (int)cc);
            IL.Emit(OpCodes.Call, ConditionMethod);
        }
        Label keep = IL.DefineLabel(), done = IL.DefineLabel();
        IL.Emit(OpCodes.Brfalse, keep);
        int source = f.Source, destination = f.Destination;
        EmitStoreGpr(destination, () => EmitLoadGpr(source), f.Size);
        IL.Emit(OpCodes.Br, done);
        IL.MarkLabel(keep);
        if (f.Size == 4) EmitStoreGpr(destination, () => EmitLoadGpr(destination), 4);
        IL.MarkLabel(done);
    }

    /// <summary>IMUL dst, src[, imm]: the truncated product; with live flags, CF/OF from the full product and
    /// ZF/SF/PF from the result, through the interpreter's SetMulFlags.</summary>
    private void EmitImul(ref FastOp f, bool live)
    {
        int size = f.Size;
        EmitLoadGpr(f.Source);
        if (size == 4) { IL.Emit(OpCodes.Conv_I4); IL.Emit(OpCodes.Conv_I8); }
        IL.Emit(OpCodes.Stloc, _a);
        if (f.Kind == FastOpKind.ImulRegRegImm)
            IL.Emit(OpCodes.Ldc_I8, size == 4 ? (long)(int)f.Immediate : (long)f.Immediate);
        else
        {
            EmitLoadGpr(f.Destination);
            if (size == 4) { IL.Emit(OpCodes.Conv_I4); IL.Emit(OpCodes.Conv_I8); }
        }
        IL.Emit(OpCodes.Stloc, _b);
        // The low 64 bits of the product (exact for 32-bit operands).
        IL.Emit(OpCodes.Ldloc, _a);
        IL.Emit(OpCodes.Ldloc, _b);
        IL.Emit(OpCodes.Mul);
        IL.Emit(OpCodes.Stloc, _r);
        EmitStoreGpr(f.Destination, () => IL.Emit(OpCodes.Ldloc, _r), size);
        _producer = Producer.Unknown;
        if (!live) return;
        IL.Emit(OpCodes.Ldarg_1);
        IL.Emit(OpCodes.Ldloc, _r);
        IL.Emit(OpCodes.Ldc_I4, size);
        if (size == 4)
        {
            // overflow: the product does not fit in 32 signed bits
            IL.Emit(OpCodes.Ldloc, _r);
            IL.Emit(OpCodes.Ldloc, _r);
            IL.Emit(OpCodes.Conv_I4);
            IL.Emit(OpCodes.Conv_I8);
            IL.Emit(OpCodes.Ceq);
            IL.Emit(OpCodes.Ldc_I4_0);
            IL.Emit(OpCodes.Ceq);
        }
        else
        {
            // overflow: the high half is not the sign extension of the low half
            IL.Emit(OpCodes.Ldloc, _a);
            IL.Emit(OpCodes.Ldloc, _b);
            IL.Emit(OpCodes.Ldloca, _carry); // scratch for the low half
            IL.Emit(OpCodes.Call, BigMulMethod);
            IL.Emit(OpCodes.Ldloc, _r);
            IL.Emit(OpCodes.Ldc_I4, 63);
            IL.Emit(OpCodes.Shr);
            IL.Emit(OpCodes.Ceq);
            IL.Emit(OpCodes.Ldc_I4_0);
            IL.Emit(OpCodes.Ceq);
        }
        IL.Emit(OpCodes.Call, MulFlagsMethod);
    }
}
