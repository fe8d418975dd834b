using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Native;

/// <summary>Control flow whose target is not a constant in the block's own page (RET, JMP/CALL through a register,
/// a branch or fall-through into another page): the code looks the target up in the vCPU's
/// <see cref="NativeJumpCache"/> and, on a hit, jumps to that block's chain entry (which counts the context's loop
/// budget, so the run loop still sees interrupts and kicks within <see cref="LoopBudget"/> blocks); on a miss it
/// stores RIP and returns as any finished block does.</summary>
internal sealed partial class NativeTranslator
{
    /// <summary>Leaves for the constant <paramref name="rip"/> outside the block's page. Flags in the host's.</summary>
    private void EmitJumpToOtherPage(ulong rip)
    {
        _flagsInR10 = false; // whatever an earlier part of the instruction saved, the host's flags are the guest's now
        EmitSaveFlags();
        _a.mov(rdx, rip);
        EmitJumpCacheLookup();
    }

    /// <summary>RET (no immediate): pops the return address through the read TLB and leaves for it. A TLB miss or a
    /// non-canonical address (the interpreter's #GP) hands the RET to the interpreter untouched.</summary>
    private void EmitReturn(int index)
    {
        _a.mov(r9, GprQ(4));
        EmitProbe(NativeLayout.ReadTlb, 8, index);
        EmitSaveFlags(); // the canonical check clobbers the flags (a flag-keeping probe saved nothing)
        _a.mov(rdx, __qword_ptr[rdx]);
        EmitJumpIfNotCanonical(rdx, OutOfLine(EmitExitRestoringFlags(index)));
        _a.lea(r9, __[r9 + 8]);
        _a.mov(GprQ(4), r9);
        CountInstruction();
        EmitJumpCacheLookup();
    }

    /// <summary>Out-of-line code that hands instruction <paramref name="index"/> to the interpreter with the guest's
    /// flags back from R10.</summary>
    private Action EmitExitRestoringFlags(int index) => () =>
    {
        EmitFlagsFromR10();
        EmitExit(index);
    };

    /// <summary>Whether <paramref name="ins"/> is a JMP or CALL through a 64-bit register, which
    /// <see cref="EmitIndirectBranch"/> translates.</summary>
    private static bool IsRegisterIndirectBranch(ref Instruction ins) =>
        ins.Code is Code.Jmp_rm64 or Code.Call_rm64 && ins.Op0Kind == OpKind.Register;

    /// <summary>JMP reg / CALL reg. A non-canonical target is the interpreter's #GP (nothing done); CALL pushes the
    /// return address through the write TLB first (a miss hands the CALL to the interpreter untouched).</summary>
    private void EmitIndirectBranch(ref Instruction ins, int index)
    {
        int target = RegisterTable.GprIndex[(int)ins.Op0Register];
        if (ins.Code == Code.Call_rm64)
        {
            _a.mov(r9, GprQ(4));
            _a.lea(r9, __[r9 - 8]);
            EmitProbe(NativeLayout.WriteTlb, 8, index);
            _a.mov(r8, GprQ(target)); // after the probe (it clobbers R8), before the push: CALL RSP jumps to the old RSP
            EmitCheckTargetInR8(index);
            EmitPushReturnAddress(ins.NextIP);
        }
        else
        {
            _a.mov(r8, GprQ(target));
            EmitCheckTargetInR8(index);
        }
        CountInstruction();
        _a.mov(rdx, r8);
        EmitJumpCacheLookup();
    }

    /// <summary>Whether <paramref name="ins"/> is a JMP or CALL through a 64-bit memory operand (a PLT stub's
    /// <c>jmp [rip+GOT]</c>, a vtable's <c>call [rax+8]</c>), which <see cref="EmitMemoryIndirectBranch"/> translates.</summary>
    private static bool IsMemoryIndirectBranch(ref Instruction ins) =>
        ins.Code is Code.Jmp_rm64 or Code.Call_rm64 && ins.Op0Kind == OpKind.Memory;

    /// <summary>JMP [mem] / CALL [mem]: the target loaded through the read TLB, then (CALL) the return address pushed
    /// through the write TLB, then on through the jump cache. A miss of either probe or a non-canonical target hands
    /// the instruction to the interpreter with nothing done (it walks, and faults at the instruction). The target
    /// waits in the state's RIP slot across CALL's second probe (which clobbers every scratch register): RIP is not
    /// read inside a block, and every exit stores it (or the interpreter sets it for the instruction handed back).</summary>
    private bool EmitMemoryIndirectBranch(ref Instruction ins, int index)
    {
        FastOp memory = default;
        if (!X86Cpu.ClassifyMemory(ref ins, ref memory)) return false;
        EmitAccess(ref memory, NativeLayout.ReadTlb, 8, index);
        _a.mov(r8, __qword_ptr[rdx]);
        if (ins.Code == Code.Call_rm64)
        {
            _a.mov(StateQ(CpuStateLayout.Rip), r8);
            EmitRestoreFlags(); // the next probe saves them afresh where it must
            _a.mov(r9, GprQ(4));
            _a.lea(r9, __[r9 - 8]);
            EmitProbe(NativeLayout.WriteTlb, 8, index);
            _a.mov(r8, StateQ(CpuStateLayout.Rip));
            EmitCheckTargetInR8(index);
            EmitPushReturnAddress(ins.NextIP);
        }
        else
        {
            EmitCheckTargetInR8(index);
        }
        CountInstruction();
        _a.mov(rdx, r8);
        EmitJumpCacheLookup();
        return true;
    }

    /// <summary>An indirect branch's target, in R8: a non-canonical one hands instruction <paramref name="index"/> to
    /// the interpreter (its #GP) with the guest's flags back. The check clobbers the flags, so they are saved first (a
    /// flag-keeping probe saved nothing).</summary>
    private void EmitCheckTargetInR8(int index)
    {
        EmitSaveFlags();
        EmitJumpIfNotCanonical(r8, OutOfLine(EmitExitRestoringFlags(index)));
    }

    /// <summary>CALL's push, after the write probe of RSP - 8 (R9, host address in RDX): the return address stored,
    /// RSP moved.</summary>
    private void EmitPushReturnAddress(ulong returnRip)
    {
        _a.mov(rax, returnRip);
        _a.mov(__qword_ptr[rdx], rax);
        _a.mov(GprQ(4), r9);
    }

    /// <summary>Jumps to <paramref name="notCanonical"/> unless <paramref name="address"/> is canonical (RCX is
    /// scratch; the host's flags are clobbered).</summary>
    private void EmitJumpIfNotCanonical(AssemblerRegister64 address, Label notCanonical)
    {
        _a.mov(rcx, address);
        _a.shl(rcx, 16);
        _a.sar(rcx, 16);
        _a.cmp(rcx, address);
        _a.jne(notCanonical);
    }

    /// <summary>RDX = the canonical target, the guest's flags saved in R10 (the host's are free), R11 counting: on
    /// a hit in the jump cache (the RIP matches and the page's generation is still the block's), jumps to the
    /// block's chain entry with the flags restored; otherwise stores RIP and returns <see cref="BlockDone"/>.</summary>
    private void EmitJumpCacheLookup()
    {
        Label miss = _a.CreateLabel();
        // NativeJumpCache.SlotOf
        _a.mov(rax, rdx);
        _a.shr(rax, 12);
        _a.imul(eax, eax, unchecked((int)NativeJumpCache.PageMultiplier));
        _a.shr(eax, 32 - NativeJumpCache.SlotBits);
        _a.xor(eax, edx);
        _a.and(eax, NativeJumpCache.Slots - 1);
        _a.imul(eax, eax, NativeJumpCache.EntryBytes);
        _a.add(rax, __qword_ptr[rsi + NativeLayout.JumpCache]);
        _a.cmp(rdx, __qword_ptr[rax + NativeJumpCache.RipOffset]);
        _a.jne(miss);
        _a.mov(rcx, __qword_ptr[rax + NativeJumpCache.GenerationOffset]);
        _a.mov(rcx, __qword_ptr[rcx]);
        _a.cmp(rcx, __qword_ptr[rax + NativeJumpCache.ExpectedGenerationOffset]);
        _a.jne(miss);
        _a.mov(rcx, __qword_ptr[rax + NativeJumpCache.ChainEntryOffset]);
        EmitFlagsFromR10();
        _a.jmp(rcx);
        _a.Label(ref miss);
        EmitFlagsFromR10();
        _flagsInR10 = false;
        _a.mov(StateQ(CpuStateLayout.Rip), rdx);
        EmitExit(BlockDone);
    }
}
