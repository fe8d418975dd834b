using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Native;

/// <summary>Forms with implicit RAX/RDX/RDI/RCX/RSP operands, and the exchanges, for the native tier: one-operand MUL
/// and IMUL of 32 and 64 bits, CBW/CWDE/CDQE/CWD/CDQ/CQO, CMPXCHG and XCHG with memory or registers, STOS (with REP,
/// 64-bit addressing) and PUSH of an immediate.
/// <para>MUL/IMUL run as the host's, which sets CF and OF; where SF, ZF, AF or PF are live they are set the
/// interpreter's way (from the low half, AF clear). CMPXCHG and XCHG with memory run as the host's LOCKed
/// instruction on guest RAM (XCHG is always locked), atomic against the interpreter's compare-and-swap; an operand
/// across a 64-byte line goes to the interpreter instead (no host split lock). CMPXCHG writes the accumulator only
/// when the compare fails, as the interpreter does.</para>
/// <para>STOS with DF set goes to the interpreter. REP STOS fills up to two pages' runs with the host's REP STOS, each
/// run after a probe of its first element; a count left after that (or a probe that misses) hands the instruction,
/// with the count and RDI as far as they got, to the interpreter, which resumes it.</para></summary>
internal sealed class NativeAccumulatorEmitter(NativeTranslator t)
{
    private const int DirectionFlag = 0x400;
    private readonly Assembler _a = t.Asm;

    private static AssemblerMemoryOperand GprQ(int index) => __qword_ptr[rdi + CpuStateLayout.GprAt(index)];

    /// <summary>Whether this emitter translates <paramref name="ins"/> when its memory operand (if any) is mapped.</summary>
    public static bool Takes(ref Instruction ins)
    {
        Mnemonic m = ins.Mnemonic;
        if (ins.HasRepnePrefix || ins.HasRepPrefix && !IsStore(m)) return false;
        if (ins.HasLockPrefix && !(m is Mnemonic.Cmpxchg or Mnemonic.Xchg && ins.Op0Kind == OpKind.Memory)) return false;
        switch (m)
        {
            case Mnemonic.Mul or Mnemonic.Imul when ins.OpCount == 1:
                return (ins.Op0Kind == OpKind.Memory ? ins.MemorySize.GetSize() : RegisterTable.Size[(int)ins.Op0Register]) is 4 or 8
                    && (ins.Op0Kind == OpKind.Memory || ins.Op0Register.IsGPR());
            case Mnemonic.Cbw or Mnemonic.Cwde or Mnemonic.Cdqe or Mnemonic.Cwd or Mnemonic.Cdq or Mnemonic.Cqo:
            case Mnemonic.Push when ins.Code is Code.Pushq_imm8 or Code.Pushq_imm32:
                return true;
            case Mnemonic.Cmpxchg:
                return ins.Op0Kind == OpKind.Memory && ins.Op1Register.IsGPR();
            case Mnemonic.Xchg:
                return ins.Op1Kind == OpKind.Register && ins.Op1Register.IsGPR()
                    && (ins.Op0Kind == OpKind.Memory || ins.Op0Register.IsGPR());
            default:
                return IsStore(m) && ins.Op0Kind == OpKind.MemoryESRDI;
        }
    }

    private static bool IsStore(Mnemonic m) => m is Mnemonic.Stosb or Mnemonic.Stosw or Mnemonic.Stosd or Mnemonic.Stosq;

    /// <summary>The flags live before a form this emitter takes that has no memory operand, given those live after.</summary>
    public static FlagSet LiveBefore(ref Instruction ins, FlagSet after) =>
        ins.Mnemonic is Mnemonic.Mul or Mnemonic.Imul ? FlagSet.None : after;

    public bool TryEmit(ref Instruction ins, int index, FlagSet flagsLive)
    {
        if (!Takes(ref ins)) return false;
        Mnemonic m = ins.Mnemonic;
        if (IsStore(m))
        {
            if (ins.HasRepPrefix) EmitRepStore(ref ins, index); else EmitStore(ref ins, index);
        }
        else if (m is Mnemonic.Mul or Mnemonic.Imul) { if (!EmitMultiply(ref ins, index, flagsLive)) return false; }
        else if (m is Mnemonic.Cmpxchg) { if (!EmitCompareExchange(ref ins, index)) return false; }
        else if (m is Mnemonic.Xchg) { if (!EmitExchange(ref ins, index)) return false; }
        else if (m is Mnemonic.Push) EmitPushImmediate(ref ins, index);
        else EmitSignExtendAccumulator(ref ins);
        t.Count();
        return true;
    }

    private bool EmitMultiply(ref Instruction ins, int index, FlagSet flagsLive)
    {
        if (!NativeTranslator.TryRehost(ref ins, out _, out FastOp memory)) return false;
        bool wide = (ins.Op0Kind == OpKind.Memory ? ins.MemorySize.GetSize() : RegisterTable.Size[(int)ins.Op0Register]) == 8;
        AssemblerMemoryOperand source;
        if (ins.Op0Kind == OpKind.Memory)
        {
            t.Access(ref memory, NativeLayout.ReadTlb, wide ? 8 : 4, index);
            source = __[rdx];
        }
        else source = NativeTranslator.Slot(ins.Op0Register);
        t.DropSavedFlags(); // the multiply sets them all
        if (wide) _a.mov(rcx, __qword_ptr[source]); else _a.mov(ecx, __dword_ptr[source]);
        if (wide) _a.mov(rax, GprQ(0)); else _a.mov(eax, __dword_ptr[rdi + CpuStateLayout.GprAt(0)]);
        switch (ins.Mnemonic, wide)
        {
            case (Mnemonic.Mul, true): _a.mul(rcx); break;
            case (Mnemonic.Mul, false): _a.mul(ecx); break;
            case (_, true): _a.imul(rcx); break;
            default: _a.imul(ecx); break;
        }
        // 32-bit: the host's EAX and EDX writes cleared the upper halves, as the guest's do.
        _a.mov(GprQ(0), rax);
        _a.mov(GprQ(2), rdx);
        if ((flagsLive & NativeFlagLiveness.ImulUndefined) != 0) t.MultiplyFlags(wide ? 8 : 4);
        return true;
    }

    /// <summary>PUSH of a sign-extended immediate, through the write probe like PUSH of a register.</summary>
    private void EmitPushImmediate(ref Instruction ins, int index)
    {
        _a.mov(r9, GprQ(4));
        _a.lea(r9, __[r9 - 8]);
        t.Probe(NativeLayout.WriteTlb, 8, index);
        _a.mov(__qword_ptr[rdx], (int)ins.GetImmediate(0));
        _a.mov(GprQ(4), r9);
        t.RestoreFlags();
    }

    private void EmitSignExtendAccumulator(ref Instruction ins)
    {
        bool intoRdx = ins.Mnemonic is Mnemonic.Cwd or Mnemonic.Cdq or Mnemonic.Cqo;
        _a.mov(rax, GprQ(0));
        if (intoRdx) _a.mov(rdx, GprQ(2));
        Instruction host = ins;
        host.IP = 0;
        _a.AddInstruction(host);
        if (intoRdx) _a.mov(GprQ(2), rdx); else _a.mov(GprQ(0), rax);
    }

    private bool EmitCompareExchange(ref Instruction ins, int index)
    {
        if (!NativeTranslator.TryRehost(ref ins, out Instruction host, out FastOp memory)) return false;
        int size = ins.MemorySize.GetSize();
        t.Access(ref memory, NativeLayout.WriteTlb, size, index);
        if (ins.HasLockPrefix)
        {
            t.SaveFlags();
            t.HandBackIfSplitLine(size, index);
        }
        t.DropSavedFlags(); // CMPXCHG sets them all
        t.LoadRehostedRegisters(ref ins);
        _a.mov(rax, GprQ(0));
        _a.AddInstruction(host);
        Label swapped = _a.CreateLabel();
        _a.jz(swapped);
        AssemblerMemoryOperand accumulator = __[rdi + CpuStateLayout.GprAt(0)];
        switch (size)
        {
            case 1: _a.mov(__byte_ptr[accumulator], al); break;
            case 2: _a.mov(__word_ptr[accumulator], ax); break;
            default: _a.mov(__qword_ptr[accumulator], rax); break; // a 32-bit load cleared the upper half, as the guest's does
        }
        _a.Label(ref swapped);
        return true;
    }

    private bool EmitExchange(ref Instruction ins, int index)
    {
        int size = RegisterTable.Size[(int)ins.Op1Register];
        if (ins.Op0Kind == OpKind.Memory)
        {
            if (!NativeTranslator.TryRehost(ref ins, out Instruction host, out FastOp memory)) return false;
            t.Access(ref memory, NativeLayout.WriteTlb, size, index);
            t.SaveFlags();
            t.HandBackIfSplitLine(size, index);
            t.RestoreFlags(); // XCHG keeps them
            t.LoadRehostedRegisters(ref ins);
            _a.AddInstruction(host);
        }
        else
        {
            // Built here, not re-encoded: the short forms (XCHG r, eAX) name RAX as an operand.
            t.LoadRehostedRegisters(ref ins);
            switch (size)
            {
                case 1: _a.xchg(al, cl); break;
                case 2: _a.xchg(ax, cx); break;
                case 4: _a.xchg(eax, ecx); break;
                default: _a.xchg(rax, rcx); break;
            }
            t.StoreRaxToSlot(ins.Op0Register);
        }
        AssemblerMemoryOperand slot = NativeTranslator.Slot(ins.Op1Register);
        switch (size)
        {
            case 1: _a.mov(__byte_ptr[slot], cl); break;
            case 2: _a.mov(__word_ptr[slot], cx); break;
            default: _a.mov(__qword_ptr[slot], rcx); break; // a 32-bit exchange cleared RCX's upper half
        }
        return true;
    }

    private static int StoreSize(Mnemonic m) => m switch
    {
        Mnemonic.Stosb => 1, Mnemonic.Stosw => 2, Mnemonic.Stosd => 4, _ => 8,
    };

    /// <summary>Hands the instruction back when DF is set (the state's RFLAGS holds it: nothing translated changes
    /// it). Leaves the guest's flags saved in R10 and the host's clobbered.</summary>
    private void HandBackIfDirectionDown(int index)
    {
        t.SaveFlags();
        _a.test(__dword_ptr[rdi + CpuStateLayout.Rflags], DirectionFlag);
        _a.jnz(t.ExitWithSavedFlags(index));
    }

    private void EmitStore(ref Instruction ins, int index)
    {
        int size = StoreSize(ins.Mnemonic);
        HandBackIfDirectionDown(index);
        t.RestoreFlags();
        _a.mov(r9, GprQ(7));
        t.Probe(NativeLayout.WriteTlb, size, index);
        _a.mov(rax, GprQ(0));
        switch (size)
        {
            case 1: _a.mov(__byte_ptr[rdx], al); break;
            case 2: _a.mov(__word_ptr[rdx], ax); break;
            case 4: _a.mov(__dword_ptr[rdx], eax); break;
            default: _a.mov(__qword_ptr[rdx], rax); break;
        }
        _a.lea(r9, __[r9 + size]);
        _a.mov(GprQ(7), r9);
        t.RestoreFlags();
    }

    private void EmitRepStore(ref Instruction ins, int index)
    {
        int size = StoreSize(ins.Mnemonic);
        HandBackIfDirectionDown(index);
        Label finished = _a.CreateLabel();
        EmitStoreRun(size, index, finished);
        EmitStoreRun(size, index, finished);
        _a.cmp(GprQ(1), 0);
        _a.jne(t.ExitWithSavedFlags(index)); // the interpreter goes on from here
        _a.Label(ref finished);
        t.RestoreFlags();
    }

    /// <summary>One run of REP STOS: the elements from RDI to its page's end, at most RCX of them, stored by the host's
    /// REP STOS (RDI, the state's pointer, kept in R8 meanwhile), then RCX and RDI moved on.</summary>
    private void EmitStoreRun(int size, int index, Label finished)
    {
        _a.cmp(GprQ(1), 0);
        _a.je(finished);
        _a.mov(r9, GprQ(7));
        t.ProbeWithFlagsSaved(NativeLayout.WriteTlb, size, index);
        // RAX = the elements left in the page (at least the one probed).
        _a.mov(eax, r9d);
        _a.and(eax, 0xFFF);
        _a.neg(eax);
        _a.add(eax, 0x1000);
        if (size > 1) _a.shr(eax, (byte)System.Numerics.BitOperations.Log2((uint)size));
        _a.mov(rcx, GprQ(1));
        _a.cmp(rcx, rax);
        _a.cmova(rcx, rax);
        _a.sub(GprQ(1), rcx);
        _a.lea(r8, __[rcx * size]);
        _a.add(GprQ(7), r8);
        _a.mov(r8, rdi);
        _a.mov(rdi, rdx);
        _a.mov(rax, __qword_ptr[r8 + CpuStateLayout.GprAt(0)]);
        switch (size)
        {
            case 1: _a.rep.stosb(); break;
            case 2: _a.rep.stosw(); break;
            case 4: _a.rep.stosd(); break;
            default: _a.rep.stosq(); break;
        }
        _a.mov(rdi, r8);
    }
}
