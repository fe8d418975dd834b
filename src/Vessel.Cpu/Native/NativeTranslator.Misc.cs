using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Native;

/// <summary>Generic forms with nothing to re-encode: the hints the interpreter runs as no-ops, and PUSHFQ.</summary>
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
}
