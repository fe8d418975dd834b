using System.Runtime.CompilerServices;
using Iced.Intel;
using Segment = Vessel.Hypervisor.Segment;
using RflagsBits = Vessel.Hypervisor.RflagsBits;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Native;

/// <summary>The cheap system instructions a kernel runs on every entry and exit, with the interpreter's privilege
/// checks: CLI and STI (CPL above IOPL: #GP), STAC, CLAC and SWAPGS (CPL other than 0: #GP; SWAPGS's #UD outside
/// 64-bit code cannot happen in a translated block), and MOV r/m, Sreg (reads a selector; no check). Whatever the
/// checks refuse, a CLAC that clears a set AC (the interpreter also drops the TLB entries AC allowed), an STI that
/// sets IF as its block's last instruction (see <see cref="EmitSti"/>) and a store whose probe misses go to the
/// interpreter untouched. Only IF and AC of RFLAGS, GS's base and KERNEL_GS_BASE change, in the state: the host's
/// flags hold the guest's arithmetic flags alone, and each check keeps them in R10 around its compare.</summary>
internal sealed class NativeSystemEmitter(NativeTranslator t)
{
    private readonly Assembler _a = t.Asm;

    /// <summary>The translated STI whose shadow the next instruction is in (see <see cref="EmitShadowEnd"/>).</summary>
    private int _stiAt = -2;

    private readonly NativeTscEmitter _tsc = new(t);

    /// <summary>Byte offset of a segment register's selector in its <see cref="Segment"/>.</summary>
    private static readonly int SelectorInSegment = SelectorOffset();

    private static int SelectorOffset()
    {
        var s = new Segment();
        return (int)Unsafe.ByteOffset(ref Unsafe.As<Segment, byte>(ref s), ref Unsafe.As<ushort, byte>(ref s.Selector));
    }

    private static AssemblerMemoryOperand RflagsD => __dword_ptr[rdi + CpuStateLayout.Rflags];
    private static AssemblerMemoryOperand CplD => __dword_ptr[rdi + CpuStateLayout.Cpl];
    private static AssemblerMemoryOperand GsBaseQ => __qword_ptr[rdi + CpuStateLayout.SegmentBaseAt(X86Cpu.GS)];

    public bool TryEmit(ref Instruction ins, int index)
    {
        if (ins.HasLockPrefix || ins.HasRepPrefix || ins.HasRepnePrefix) return false;
        switch (ins.Code)
        {
            case Code.Cli:
                EmitIoplChecked(index, () => _a.and(RflagsD, unchecked((int)~RflagsBits.If)));
                return true;
            case Code.Sti:
                EmitSti(index);
                return true;
            case Code.Swapgs:
                EmitCpl0Checked(index, () =>
                {
                    _a.mov(rax, GsBaseQ);
                    _a.mov(rcx, __qword_ptr[rdi + CpuStateLayout.KernelGsBase]);
                    _a.mov(GsBaseQ, rcx);
                    _a.mov(__qword_ptr[rdi + CpuStateLayout.KernelGsBase], rax);
                });
                return true;
            case Code.Stac:
                EmitCpl0Checked(index, () => _a.or(RflagsD, (int)RflagsBits.Ac));
                return true;
            case Code.Clac:
                EmitCpl0Checked(index, () =>
                {
                    _a.test(RflagsD, (int)RflagsBits.Ac);
                    _a.jnz(t.ExitWithSavedFlags(index));
                });
                return true;
            case Code.Rdtsc or Code.Rdtscp:
                return _tsc.TryEmit(index, withAux: ins.Code == Code.Rdtscp);
            case Code.Mov_r64m16_Sreg or Code.Mov_r32m16_Sreg or Code.Mov_rm16_Sreg:
                return EmitReadSelector(ref ins, index);
            default:
                return false;
        }
    }

    /// <summary>STI sets IF. One that finds IF clear starts an interrupt shadow: no interrupt before the next
    /// instruction has run. Translated code looks at no interrupt, and an instruction it hands back runs before the
    /// run loop looks, so the shadow holds while the next instruction is in this block. It then asks the run loop to
    /// look at interrupts when the run returns (<see cref="NativeContext.EndRun"/>), and returns after the next
    /// instruction (<see cref="EmitShadowEnd"/>) or, where that one leaves the block, at the next block's entry (a loop
    /// budget of one), as the interpreter's STI ends its run. The block's last STI with IF clear still
    /// goes to the interpreter, which tells the run loop of the shadow.</summary>
    private void EmitSti(int index)
    {
        bool shadowInBlock = !t.IsLastInstruction(index);
        if (shadowInBlock) _stiAt = index;
        EmitIoplChecked(index, () =>
        {
            Label ifWasSet = _a.CreateLabel();
            _a.test(RflagsD, (int)RflagsBits.If);
            if (!shadowInBlock)
            {
                _a.jz(t.ExitWithSavedFlags(index));
                return;
            }
            _a.jnz(ifWasSet);
            _a.or(RflagsD, (int)RflagsBits.If);
            _a.mov(__dword_ptr[rsi + NativeLayout.EndRun], 1);
            _a.mov(__dword_ptr[rsi + NativeLayout.LoopBudget], 1);
            _a.Label(ref ifWasSet);
        });
    }

    /// <summary>After the instruction that follows a translated STI: if that STI set IF, the run ends here, for the
    /// run loop to look at interrupts (an instruction the block hands back further on would run first otherwise).
    /// Nothing when the instruction was handed back: the managed side ends the run after it.</summary>
    public void EmitShadowEnd(int index)
    {
        if (index != _stiAt + 1) return;
        t.SaveFlags();
        _a.cmp(__dword_ptr[rsi + NativeLayout.EndRun], 0);
        _a.jne(t.ExitAfterWithSavedFlags(index));
        t.RestoreFlags();
    }

    /// <summary>Runs <paramref name="body"/> (flags in R10, the host's free) unless CPL is above IOPL.</summary>
    private void EmitIoplChecked(int index, Action body)
    {
        t.SaveFlags();
        _a.mov(eax, RflagsD);
        _a.shr(eax, 12);
        _a.and(eax, 3);
        _a.cmp(eax, CplD);
        _a.jb(t.ExitWithSavedFlags(index));
        body();
        t.RestoreFlags();
        t.Count();
    }

    /// <summary>Runs <paramref name="body"/> (flags in R10, the host's free) only at CPL 0.</summary>
    private void EmitCpl0Checked(int index, Action body)
    {
        t.SaveFlags();
        _a.cmp(CplD, 0);
        _a.jne(t.ExitWithSavedFlags(index));
        body();
        t.RestoreFlags();
        t.Count();
    }

    /// <summary>MOV r/m, Sreg: a 32- or 64-bit register gets the selector zero-extended, a 16-bit one its low word,
    /// memory two bytes through the write TLB.</summary>
    private bool EmitReadSelector(ref Instruction ins, int index)
    {
        int seg = RegisterTable.SegmentIndex[(int)ins.Op1Register];
        if (seg < 0) return false;
        AssemblerMemoryOperand selector = __word_ptr[rdi + CpuStateLayout.Seg + seg * CpuStateLayout.SegmentSize + SelectorInSegment];
        if (ins.Op0Kind == OpKind.Register)
        {
            Register destination = ins.Op0Register;
            if (!destination.IsGPR()) return false;
            _a.movzx(eax, selector);
            if (destination.IsGPR16()) _a.mov(__word_ptr[NativeTranslator.Slot(destination)], ax);
            else _a.mov(__qword_ptr[NativeTranslator.Slot(destination)], rax);
            t.Count();
            return true;
        }
        var memory = new FastOp();
        if (ins.Op0Kind != OpKind.Memory || !X86Cpu.ClassifyMemory(ref ins, ref memory)) return false;
        t.Access(ref memory, NativeLayout.WriteTlb, 2, index);
        _a.movzx(eax, selector);
        _a.mov(__word_ptr[rdx], ax);
        t.RestoreFlags();
        t.Count();
        return true;
    }
}
