using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Native;

/// <summary>Unsigned DIV of RDX:RAX by a 64-bit, or EDX:EAX by a 32-bit, register or memory operand. A zero divisor
/// or a quotient that does not fit (the high half not below the divisor) goes to the interpreter untouched, which
/// raises #DE at the instruction. The interpreter leaves the flags as they were (the architecture leaves them
/// undefined), so they are saved around the host's DIV.</summary>
internal sealed class NativeDivideEmitter(NativeTranslator t)
{
    private readonly Assembler _a = t.Asm;

    private static AssemblerMemoryOperand GprQ(int index) => __qword_ptr[rdi + CpuStateLayout.GprAt(index)];
    private static AssemblerMemoryOperand GprD(int index) => __dword_ptr[rdi + CpuStateLayout.GprAt(index)];

    public bool TryEmit(ref Instruction ins, int index)
    {
        if (ins.Code is not (Code.Div_rm64 or Code.Div_rm32) || ins.HasLockPrefix || ins.HasRepPrefix || ins.HasRepnePrefix)
            return false;
        bool wide = ins.Code == Code.Div_rm64;
        if (ins.Op0Kind == OpKind.Memory)
        {
            var memory = new FastOp();
            if (!X86Cpu.ClassifyMemory(ref ins, ref memory)) return false;
            t.Access(ref memory, NativeLayout.ReadTlb, wide ? 8 : 4, index);
            t.SaveFlags(); // the checks below clobber the flags, which DIV leaves as they were (a flag-keeping probe saved nothing)
            if (wide) _a.mov(rcx, __qword_ptr[rdx]); else _a.mov(ecx, __dword_ptr[rdx]);
        }
        else
        {
            if (ins.Op0Kind != OpKind.Register || !ins.Op0Register.IsGPR()) return false;
            t.SaveFlags();
            if (wide) _a.mov(rcx, NativeTranslator.Slot(ins.Op0Register)); else _a.mov(ecx, __dword_ptr[NativeTranslator.Slot(ins.Op0Register)]);
        }
        Label divideError = t.ExitWithSavedFlags(index);
        if (wide)
        {
            _a.mov(r8, GprQ(2));
            _a.test(rcx, rcx);
            _a.jz(divideError);
            _a.cmp(r8, rcx);
            _a.jae(divideError);
            _a.mov(rax, GprQ(0));
            _a.mov(rdx, r8);
            _a.div(rcx);
        }
        else
        {
            _a.mov(r8d, GprD(2));
            _a.test(ecx, ecx);
            _a.jz(divideError);
            _a.cmp(r8d, ecx);
            _a.jae(divideError);
            _a.mov(eax, GprD(0));
            _a.mov(edx, r8d);
            _a.div(ecx); // the 32-bit quotient and remainder clear the upper halves, as the guest's DIV does
        }
        _a.mov(GprQ(0), rax);
        _a.mov(GprQ(2), rdx);
        t.RestoreFlags();
        t.Count();
        return true;
    }
}
