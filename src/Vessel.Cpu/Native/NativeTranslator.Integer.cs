using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Native;

/// <summary>Register forms (ALU, INC/DEC, moves, LEA, extensions, CMOV, shifts, IMUL with the interpreter's SF, ZF
/// and PF where they are read) and branches. Each loads its operands from the state into RAX/RCX, runs the same host instruction, and
/// stores the result back; the host computes the flags.</summary>
internal sealed partial class NativeTranslator
{
    private bool EmitRegisterForm(ref FastOp f, FlagSet flagsLive)
    {
        bool wide = f.Size == 8;
        int d = f.Destination;
        switch (f.Kind)
        {
            case FastOpKind.AluRegReg or FastOpKind.AluRegImm:
            {
                var op = (AluOperation)f.Operation;
                CountInstruction();
                LoadRax(d, wide);
                if (f.Kind == FastOpKind.AluRegReg)
                {
                    LoadRcx(f.Source, wide);
                    EmitAlu(op, wide, null);
                }
                else EmitAlu(op, wide, (int)f.Immediate);
                if (op is not (AluOperation.Cmp or AluOperation.Test)) _a.mov(GprQ(d), rax);
                return true;
            }
            case FastOpKind.IncReg or FastOpKind.DecReg:
                CountInstruction();
                LoadRax(d, wide);
                if (f.Kind == FastOpKind.IncReg) { if (wide) _a.inc(rax); else _a.inc(eax); }
                else if (wide) _a.dec(rax); else _a.dec(eax);
                _a.mov(GprQ(d), rax);
                return true;
            case FastOpKind.NotReg:
                CountInstruction();
                LoadRax(d, wide);
                if (wide) _a.not(rax); else _a.not(eax);
                _a.mov(GprQ(d), rax);
                return true;
            case FastOpKind.MovRegReg:
                CountInstruction();
                LoadRax(f.Source, wide);
                _a.mov(GprQ(d), rax);
                return true;
            case FastOpKind.MovRegImm:
                CountInstruction();
                EmitStoreConstant(CpuStateLayout.GprAt(d), wide ? f.Immediate : (uint)f.Immediate);
                return true;
            case FastOpKind.Lea:
                CountInstruction();
                EmitEffectiveAddress(ref f);
                if (!wide) _a.mov(r9d, r9d);
                _a.mov(GprQ(d), r9);
                return true;
            case FastOpKind.MovzxRegReg or FastOpKind.MovsxRegReg:
                CountInstruction();
                EmitExtend(__[rdi + CpuStateLayout.GprAt(f.Source)], f.Operation, wide, f.Kind == FastOpKind.MovsxRegReg);
                _a.mov(GprQ(d), rax);
                return true;
            case FastOpKind.CmovRegReg:
                CountInstruction();
                LoadRax(d, wide);
                LoadRcx(f.Source, wide);
                EmitCmov((ConditionCode)f.Operation, wide);
                _a.mov(GprQ(d), rax);
                return true;
            case FastOpKind.ShiftRegImm:
                CountInstruction();
                EmitShift(ref f, flagsLive);
                return true;
            case FastOpKind.ImulRegReg or FastOpKind.ImulRegRegImm:
                CountInstruction();
                LoadRcx(f.Source, wide);
                if (f.Kind == FastOpKind.ImulRegReg)
                {
                    LoadRax(d, wide);
                    if (wide) _a.imul(rax, rcx); else _a.imul(eax, ecx);
                }
                else if (wide) _a.imul(rax, rcx, (int)f.Immediate);
                else _a.imul(eax, ecx, (int)f.Immediate);
                _a.mov(GprQ(d), rax);
                if ((flagsLive & NativeFlagLiveness.ImulUndefined) != 0) EmitImulFlags(f.Size);
                return true;
        }
        return false;
    }

    /// <summary>SHL/SHR/SAR by a non-zero immediate. The host sets CF, ZF, SF and PF as the interpreter does; with the
    /// flags live, AF is cleared and OF set the interpreter's way (SHL: the result's top bit XOR CF, SHR: the operand's
    /// top bit, SAR: clear), which for counts above 1, where both are undefined, the host need not match.</summary>
    private void EmitShift(ref FastOp f, FlagSet flagsLive)
    {
        bool wide = f.Size == 8;
        int topBit = wide ? 63 : 31;
        byte count = (byte)f.Immediate;
        var op = (ShiftOperation)f.Operation;
        // Only AF and OF can differ from the interpreter's (OF only for counts above 1, where it is undefined).
        bool fixUp = (flagsLive & (count == 1 ? FlagSet.Af : FlagSet.Af | FlagSet.Of)) != 0;
        LoadRax(f.Destination, wide);
        if (fixUp && op == ShiftOperation.Shr) _a.mov(r8, rax);
        switch (op)
        {
            case ShiftOperation.Shl: if (wide) _a.shl(rax, count); else _a.shl(eax, count); break;
            case ShiftOperation.Shr: if (wide) _a.shr(rax, count); else _a.shr(eax, count); break;
            default: if (wide) _a.sar(rax, count); else _a.sar(eax, count); break;
        }
        _a.mov(GprQ(f.Destination), rax);
        if (!fixUp) return;
        if (op == ShiftOperation.Shl) _a.mov(r8, rax);
        _a.lahf();
        switch (op)
        {
            case ShiftOperation.Shl:
                _a.mov(rcx, r8);
                _a.shr(rcx, (byte)topBit);
                _a.xor(cl, ah);
                _a.and(ecx, 1);
                break;
            case ShiftOperation.Shr:
                _a.mov(rcx, r8);
                _a.shr(rcx, (byte)topBit);
                _a.and(ecx, 1);
                break;
            default:
                _a.xor(ecx, ecx);
                break;
        }
        _a.and(ah, unchecked((byte)~0x10));
        _a.mov(al, cl);
        _a.add(al, 0x7F);
        _a.sahf();
    }

    /// <summary>RAX = guest register <paramref name="index"/> (zero-extended from 32 bits unless wide).</summary>
    private void LoadRax(int index, bool wide)
    {
        if (wide) _a.mov(rax, GprQ(index)); else _a.mov(eax, GprD(index));
    }

    private void LoadRcx(int index, bool wide)
    {
        if (wide) _a.mov(rcx, GprQ(index)); else _a.mov(ecx, GprD(index));
    }

    /// <summary>RAX op= RCX, or op= <paramref name="immediate"/>, at the operand size.</summary>
    private void EmitAlu(AluOperation op, bool wide, int? immediate)
    {
        if (immediate is int imm)
        {
            if (wide)
            {
                switch (op)
                {
                    case AluOperation.Add: _a.add(rax, imm); break; case AluOperation.Or: _a.or(rax, imm); break;
                    case AluOperation.Adc: _a.adc(rax, imm); break; case AluOperation.Sbb: _a.sbb(rax, imm); break;
                    case AluOperation.And: _a.and(rax, imm); break; case AluOperation.Sub: _a.sub(rax, imm); break;
                    case AluOperation.Xor: _a.xor(rax, imm); break; case AluOperation.Cmp: _a.cmp(rax, imm); break;
                    default: _a.test(rax, imm); break;
                }
                return;
            }
            switch (op)
            {
                case AluOperation.Add: _a.add(eax, imm); break; case AluOperation.Or: _a.or(eax, imm); break;
                case AluOperation.Adc: _a.adc(eax, imm); break; case AluOperation.Sbb: _a.sbb(eax, imm); break;
                case AluOperation.And: _a.and(eax, imm); break; case AluOperation.Sub: _a.sub(eax, imm); break;
                case AluOperation.Xor: _a.xor(eax, imm); break; case AluOperation.Cmp: _a.cmp(eax, imm); break;
                default: _a.test(eax, imm); break;
            }
            return;
        }
        if (wide)
        {
            switch (op)
            {
                case AluOperation.Add: _a.add(rax, rcx); break; case AluOperation.Or: _a.or(rax, rcx); break;
                case AluOperation.Adc: _a.adc(rax, rcx); break; case AluOperation.Sbb: _a.sbb(rax, rcx); break;
                case AluOperation.And: _a.and(rax, rcx); break; case AluOperation.Sub: _a.sub(rax, rcx); break;
                case AluOperation.Xor: _a.xor(rax, rcx); break; case AluOperation.Cmp: _a.cmp(rax, rcx); break;
                default: _a.test(rax, rcx); break;
            }
            return;
        }
        switch (op)
        {
            case AluOperation.Add: _a.add(eax, ecx); break; case AluOperation.Or: _a.or(eax, ecx); break;
            case AluOperation.Adc: _a.adc(eax, ecx); break; case AluOperation.Sbb: _a.sbb(eax, ecx); break;
            case AluOperation.And: _a.and(eax, ecx); break; case AluOperation.Sub: _a.sub(eax, ecx); break;
            case AluOperation.Xor: _a.xor(eax, ecx); break; case AluOperation.Cmp: _a.cmp(eax, ecx); break;
            default: _a.test(eax, ecx); break;
        }
    }

    /// <summary>RAX = the <paramref name="from"/>-byte value at <paramref name="source"/>, zero- or sign-extended to
    /// the operand size (and a 32-bit result zero-extended, as the guest's write of a 32-bit register does).</summary>
    private void EmitExtend(AssemblerMemoryOperand source, int from, bool wide, bool signed)
    {
        switch (from)
        {
            case 1 when !signed: _a.movzx(eax, __byte_ptr[source]); break;
            case 2 when !signed: _a.movzx(eax, __word_ptr[source]); break;
            case 1 when wide: _a.movsx(rax, __byte_ptr[source]); break;
            case 2 when wide: _a.movsx(rax, __word_ptr[source]); break;
            case 1: _a.movsx(eax, __byte_ptr[source]); break;
            case 2: _a.movsx(eax, __word_ptr[source]); break;
            case 4 when signed && wide: _a.movsxd(rax, __dword_ptr[source]); break;
            default: _a.mov(eax, __dword_ptr[source]); break;
        }
    }

    /// <summary>RAX = RCX if the condition holds; a 32-bit CMOV zero-extends RAX either way (it was loaded so).</summary>
    private void EmitCmov(ConditionCode cc, bool wide)
    {
        if (!wide)
        {
            // The 32-bit forms: the same condition on the low halves; RAX was loaded zero-extended.
            switch (cc)
            {
                case ConditionCode.o: _a.cmovo(eax, ecx); break; case ConditionCode.no: _a.cmovno(eax, ecx); break;
                case ConditionCode.b: _a.cmovb(eax, ecx); break; case ConditionCode.ae: _a.cmovae(eax, ecx); break;
                case ConditionCode.e: _a.cmove(eax, ecx); break; case ConditionCode.ne: _a.cmovne(eax, ecx); break;
                case ConditionCode.be: _a.cmovbe(eax, ecx); break; case ConditionCode.a: _a.cmova(eax, ecx); break;
                case ConditionCode.s: _a.cmovs(eax, ecx); break; case ConditionCode.ns: _a.cmovns(eax, ecx); break;
                case ConditionCode.p: _a.cmovp(eax, ecx); break; case ConditionCode.np: _a.cmovnp(eax, ecx); break;
                case ConditionCode.l: _a.cmovl(eax, ecx); break; case ConditionCode.ge: _a.cmovge(eax, ecx); break;
                case ConditionCode.le: _a.cmovle(eax, ecx); break; default: _a.cmovg(eax, ecx); break;
            }
            return;
        }
        switch (cc)
        {
            case ConditionCode.o: _a.cmovo(rax, rcx); break; case ConditionCode.no: _a.cmovno(rax, rcx); break;
            case ConditionCode.b: _a.cmovb(rax, rcx); break; case ConditionCode.ae: _a.cmovae(rax, rcx); break;
            case ConditionCode.e: _a.cmove(rax, rcx); break; case ConditionCode.ne: _a.cmovne(rax, rcx); break;
            case ConditionCode.be: _a.cmovbe(rax, rcx); break; case ConditionCode.a: _a.cmova(rax, rcx); break;
            case ConditionCode.s: _a.cmovs(rax, rcx); break; case ConditionCode.ns: _a.cmovns(rax, rcx); break;
            case ConditionCode.p: _a.cmovp(rax, rcx); break; case ConditionCode.np: _a.cmovnp(rax, rcx); break;
            case ConditionCode.l: _a.cmovl(rax, rcx); break; case ConditionCode.ge: _a.cmovge(rax, rcx); break;
            case ConditionCode.le: _a.cmovle(rax, rcx); break; default: _a.cmovg(rax, rcx); break;
        }
    }

    private void EmitJcc(ConditionCode cc, Label target)
    {
        switch (cc)
        {
            case ConditionCode.o: _a.jo(target); break; case ConditionCode.no: _a.jno(target); break;
            case ConditionCode.b: _a.jb(target); break; case ConditionCode.ae: _a.jae(target); break;
            case ConditionCode.e: _a.je(target); break; case ConditionCode.ne: _a.jne(target); break;
            case ConditionCode.be: _a.jbe(target); break; case ConditionCode.a: _a.ja(target); break;
            case ConditionCode.s: _a.js(target); break; case ConditionCode.ns: _a.jns(target); break;
            case ConditionCode.p: _a.jp(target); break; case ConditionCode.np: _a.jnp(target); break;
            case ConditionCode.l: _a.jl(target); break; case ConditionCode.ge: _a.jge(target); break;
            case ConditionCode.le: _a.jle(target); break; default: _a.jg(target); break;
        }
    }

    /// <summary>A Jcc: to a later instruction of the block, a jump inside the code; otherwise a jump to an exit (or
    /// back to the start) out of line. Not taken, the last instruction leaves with RIP after it.</summary>
    private void EmitConditionalBranch(ref FastOp f, ref Instruction ins, int index, bool last)
    {
        var cc = (ConditionCode)f.Operation;
        if (!last && NativeFlagLiveness.InBlockTarget(_block, index) is int target)
        {
            EmitJcc(cc, _labels[target]);
            return;
        }
        ulong destination = f.Immediate;
        EmitJcc(cc, OutOfLine(() => EmitTakenBranch(destination)));
        if (last) EmitExitTo(ins.NextIP);
    }

    /// <summary>Leaves for <paramref name="target"/>; the block's own start loops instead, <see cref="LoopBudget"/>
    /// times per entry (counted down in the context without touching the flags: LEA and JRCXZ).</summary>
    private void EmitTakenBranch(ulong target)
    {
        if (target != _block.StartRip)
        {
            EmitExitTo(target);
            return;
        }
        EmitLoopBackOrExitTo(target);
    }
}
