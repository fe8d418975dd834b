using Iced.Intel;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>A block whose page was written is decoded again before it runs; when the new decode is the same
/// instructions (the write hit data sharing the page, or wrote the bytes that were there), the block keeps its
/// translation instead of being translated afresh; when they differ, the new code is translated and runs.</summary>
public class NativeTranslationReuseTests
{
    internal const ulong Loop = 0x21000;
    private const int Rounds = 200;

    private static (Registers Registers, ulong Retired, long Translations) Run(EmuOptions options, Action<Assembler> loop)
    {
        using var g = new PagedGuest(options);
        g.Guest.Load(Loop, 64, loop);
        VcpuExit exit = g.Run(a =>
        {
            a.mov(ecx, Rounds);
            a.mov(rax, Loop);
            a.jmp(rax);
        });
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        X86Cpu cpu = g.Guest.Cpu;
        return (g.Guest.Guest.Vcpu.GetRegisters(), (ulong)cpu.State.InstructionsRetired, cpu.NativeTranslations);
    }

    /// <summary>A loop of ECX rounds that sums RCX into RBX and stores the round into its own code page, past its
    /// code (at <see cref="Loop"/> + 0x800): each store makes the page's blocks stale, and their decode is the same
    /// instructions again. Also used by <see cref="CompactBlockTests"/>.</summary>
    internal static void StoringLoop(Assembler a)
    {
        var top = a.CreateLabel();
        a.Label(ref top);
        a.add(rbx, rcx);
        a.mov(__dword_ptr[Loop + 0x800], ecx);
        a.imul(rdx, rbx, 7);
        a.dec(ecx);
        a.jnz(top);
        a.hlt();
    }

    [Fact]
    public void A_loop_storing_into_data_on_its_own_code_page_keeps_its_translation()
    {
        // Every round's store lands in the loop's page (a counter past its code): the page's blocks go stale each
        // round, and each round's decode of them is the same instructions again.
        var interpreted = Run(NativeTierTests.InterpreterOptions, StoringLoop);
        var native = Run(NativeTierTests.NativeOptions, StoringLoop);

        Assert.Equal(interpreted.Registers, native.Registers);
        Assert.Equal(interpreted.Retired, native.Retired);
        Assert.Equal((ulong)(Rounds * (Rounds + 1) / 2), native.Registers.Rbx);
        // Without keeping, every round translated its blocks afresh (JitThreshold 1): about Rounds translations.
        Assert.True(native.Translations is > 0 and < 10, $"{native.Translations} translations");
    }

    [Fact]
    public void A_loop_rewriting_an_instruction_of_its_own_block_is_translated_again_and_runs_the_new_code()
    {
        // The store changes the MOV's immediate each round (to a value the loop did not have before): the decode
        // differs, so the old translation must not run.
        static void RewritingLoop(Assembler a) => NativeTierTests.EmitImmediateRewritingLoop(a, Loop, 1000);
        var interpreted = Run(NativeTierTests.InterpreterOptions, RewritingLoop);
        var native = Run(NativeTierTests.NativeOptions, RewritingLoop);

        static string Show(Registers r) => $"rax {r.Rax:x} rbx {r.Rbx:x} rcx {r.Rcx:x} rdx {r.Rdx:x} rip {r.Rip:x} fl {r.Rflags:x} rsp {r.Rsp:x}";
        Assert.Equal(Show(interpreted.Registers), Show(native.Registers));
        Assert.Equal(interpreted.Registers, native.Registers);
        Assert.Equal(interpreted.Retired, native.Retired);
        ulong expected = 1;
        for (int k = 2; k <= Rounds; k++) expected += (ulong)(1000 + Rounds - k + 2);
        Assert.Equal(expected, native.Registers.Rbx);
        Assert.True(native.Translations >= Rounds / 2, $"{native.Translations} translations");
    }
}
