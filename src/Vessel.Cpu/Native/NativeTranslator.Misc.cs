using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Native;

/// <summary>Generic forms with nothing to re-encode: the hints the interpreter runs as no-ops, PUSHFQ, PUSH [mem] and LEAVE.</summary>
internal sealed partial class NativeTranslator
{
    /// <summary>PREFETCHh, PAUSE, the fences and ENDBR64: the interpreter does nothing for them (no access, no
    /// fault), and neither does this tier.</summary>
    internal static bool IsInterpreterNoOp(Mnemonic m) => m is Mnemonic.Pause or Mnemonic.Lfence or Mnemonic.Mfence
        or Mnemonic.Sfence or Mnemonic.Prefetch or Mnemonic.Prefetchw or Mnemonic.Prefetchnta or Mnemonic.Prefetcht0
        or Mnemonic.Prefetcht1 or Mnemonic.Prefetcht2 or Mnemonic.Endbr64;

    /// <summary>PUSHFQ: RFLAGS (the state's, with the host's arithmetic flags) without RF and VM, pushed through the
    /// write probe like PUSH of a register.</summary>
    private void EmitPushFlags(int index)
    {
        const int Kept = ArithmeticFlags | (int)Hypervisor.RflagsBits.Rf | (int)Hypervisor.RflagsBits.Vm;
        _a.mov(r9, GprQ(4));
        _a.lea(r9, __[r9 - 8]);
        EmitProbe(NativeLayout.WriteTlb, 8, index);
        EmitRestoreFlags();
        EmitSaveFlags(); // the merge below clobbers the flags (a flag-keeping probe saved nothing)
        _a.pushfq();
        _a.pop(rax);
        _a.and(eax, ArithmeticFlags);
        _a.mov(rcx, StateQ(CpuStateLayout.Rflags));
        _a.and(rcx, ~Kept);
        _a.or(rcx, rax);
        _a.mov(__qword_ptr[rdx], rcx);
        _a.mov(GprQ(4), r9);
        EmitRestoreFlags();
        CountInstruction();
    }

    /// <summary>Whether <paramref name="ins"/> is PUSH of a 64-bit memory operand, which <see cref="EmitPushMemory"/>
    /// translates.</summary>
    private static bool IsPushMemory(ref Instruction ins) => ins.Code == Code.Push_rm64 && ins.Op0Kind == OpKind.Memory;

    /// <summary>PUSH [mem]: the value loaded through the read TLB (its address from the old RSP) and kept in the
    /// context's scratch slot across the push's write probe. A miss of either probe hands the PUSH to the interpreter
    /// with nothing stored (it walks, and faults at the instruction).</summary>
    private bool EmitPushMemory(ref Instruction ins, int index)
    {
        FastOp memory = default;
        if (!X86Cpu.ClassifyMemory(ref ins, ref memory)) return false;
        EmitAccess(ref memory, NativeLayout.ReadTlb, 8, index);
        _a.mov(rax, __qword_ptr[rdx]);
        _a.mov(__qword_ptr[rsi + NativeLayout.Scratch], rax);
        EmitRestoreFlags(); // the next probe saves them afresh where it must
        _a.mov(r9, GprQ(4));
        _a.lea(r9, __[r9 - 8]);
        EmitProbe(NativeLayout.WriteTlb, 8, index);
        _a.mov(rax, __qword_ptr[rsi + NativeLayout.Scratch]);
        _a.mov(__qword_ptr[rdx], rax);
        _a.mov(GprQ(4), r9);
        EmitRestoreFlags();
        CountInstruction();
        return true;
    }

    /// <summary>LEAVE (64-bit): RBP popped from the stack at RBP through the read TLB, RSP just above it. A miss
    /// hands the LEAVE to the interpreter untouched (the TLB holds canonical pages only, so its #SS stays there).</summary>
    private void EmitLeave(int index)
    {
        _a.mov(r9, GprQ(5));
        EmitProbe(NativeLayout.ReadTlb, 8, index);
        _a.mov(rax, __qword_ptr[rdx]);
        _a.lea(r9, __[r9 + 8]);
        _a.mov(GprQ(4), r9);
        _a.mov(GprQ(5), rax);
        EmitRestoreFlags();
        CountInstruction();
    }
}
