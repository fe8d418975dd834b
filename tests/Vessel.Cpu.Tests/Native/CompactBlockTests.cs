using Iced.Intel;
using Vessel.Cpu.Tests.Segmentation;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>A translated block keeps its guest bytes instead of its decoded instructions (<see cref="BlockCompactor"/>);
/// whatever needs the instructions again (a hand-back, a fault in one, single-step, a fresh decode compared with the
/// stale one) decodes them from those bytes. Each program runs interpreted and translated, and must leave the same
/// registers, memory, instruction count and fault, with blocks really made compact in the translated run.</summary>
public class CompactBlockTests
{
    private const ulong Data = 0x100000, Loop = 0x21000, DebugHandler = 0x31000, StepLog = 0xC000, StepCount = 0xBFF8;

    private sealed record Outcome(Registers Registers, ulong Retired, string Memory, ulong FaultVector, ulong FaultRip,
        ulong FaultAddress, string StepLog, long Translations, long Steps, long MadeCompact, long CompactDecodes, long GivenArrays);

    private static Outcome Run(EmuOptions options, Action<Assembler> code, Action<PagedGuest>? prepare = null)
    {
        using var g = new PagedGuest(options);
        prepare?.Invoke(g);
        VcpuExit exit = g.Run(code);
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        X86Cpu cpu = g.Guest.Cpu;
        var memory = new byte[0x3000];
        g.Guest.Memory.Read(Data, memory);
        var steps = new byte[8 * 64];
        g.Guest.Memory.Read(StepLog, steps);
        return new Outcome(g.Guest.Guest.Vcpu.GetRegisters(), (ulong)cpu.State.InstructionsRetired, Convert.ToHexString(memory),
            g.Guest.ReadU64(PagedGuest.FaultVector), g.Guest.ReadU64(PagedGuest.FaultRip), g.Guest.ReadU64(PagedGuest.FaultAddress),
            $"{g.Guest.ReadU64(StepCount)}: {Convert.ToHexString(steps)}",
            cpu.NativeTranslations, cpu.NativeSteps, cpu.Loop.Compactor.MadeCompact, cpu.Loop.Compactor.Decodes, cpu.Loop.Compactor.GivenArrays);
    }

    private static (Outcome Interpreted, Outcome Native) RunBothWays(Action<Assembler> code, Action<PagedGuest>? prepare = null,
        EmuOptions? nativeOptions = null)
    {
        Outcome interpreted = Run(NativeTierTests.InterpreterOptions, code, prepare);
        Outcome native = Run(nativeOptions ?? NativeTierTests.NativeOptions, code, prepare);
        Assert.Equal(interpreted.Registers, native.Registers);
        Assert.Equal(interpreted.Retired, native.Retired);
        Assert.Equal(interpreted.Memory, native.Memory);
        Assert.Equal(interpreted.FaultVector, native.FaultVector);
        Assert.Equal(interpreted.FaultRip, native.FaultRip);
        Assert.Equal(interpreted.FaultAddress, native.FaultAddress);
        Assert.Equal(interpreted.StepLog, native.StepLog);
        Assert.Equal(0L, interpreted.MadeCompact);
        Assert.True(native.MadeCompact >= 1, $"{native.MadeCompact} blocks made compact");
        return (interpreted, native);
    }

    [Fact]
    public void Blocks_not_hot_yet_are_cached_compact_and_run_again_from_their_bytes_until_they_take_arrays()
    {
        // Nothing gets hot (threshold 64): every block of the loop is cached compact when decoded, its second run is
        // decoded again from its bytes, and from its fourth such decode on it runs from arrays of its own.
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            var skip = a.CreateLabel();
            a.mov(ecx, 10);
            a.mov(rbx, Data);
            a.Label(ref top);
            a.add(rax, rcx);
            a.mov(__qword_ptr[rbx + rcx * 8], rax);
            a.test(cl, 1);
            a.jz(skip);
            a.xor(rdx, __qword_ptr[rbx + rcx * 8 + 8]);
            a.jmp(skip);
            a.Label(ref skip);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        var (_, native) = RunBothWays(Program, nativeOptions: new EmuOptions { Tier = EmuTier.Native, JitThreshold = 64 });

        Assert.Equal(0L, native.Translations);
        Assert.True(native.CompactDecodes >= BlockCompactor.ExpansionsBeforeArrays, $"{native.CompactDecodes} decodes");
        Assert.True(native.GivenArrays >= 1, $"{native.GivenArrays} blocks given their arrays");
    }

    [Fact]
    public void Two_compact_blocks_handing_back_in_turn_decode_again_then_take_their_arrays_back()
    {
        // CPUID is handed back by translated code in each of the loop's two blocks, in turn: the scratch holds one
        // block's decode, so each hand-back decodes the other block again, until both keep their arrays.
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            var second = a.CreateLabel();
            a.mov(r8d, 40);
            a.Label(ref top);
            a.xor(eax, eax);
            a.cpuid();
            a.add(r9, rbx);
            a.lea(r10, __[r9 + r8 * 2]);
            a.jmp(second);
            a.Label(ref second);
            a.mov(eax, 1);
            a.cpuid();
            a.add(r11, rax);
            a.dec(r8d);
            a.jnz(top);
            a.hlt();
        }
        var (_, native) = RunBothWays(Program);

        Assert.True(native.Steps >= 2 * 38, $"{native.Steps} instructions handed back");
        Assert.True(native.CompactDecodes >= BlockCompactor.ExpansionsBeforeArrays, $"{native.CompactDecodes} decodes");
        Assert.True(native.GivenArrays >= 1, $"{native.GivenArrays} blocks given their arrays back");
        // Once they have their arrays, hand-backs decode nothing: at most the decodes before that, per block.
        Assert.True(native.CompactDecodes <= 2 * BlockCompactor.ExpansionsBeforeArrays + 2, $"{native.CompactDecodes} decodes");
    }

    [Fact]
    public void A_page_fault_in_a_compact_block_stops_at_the_faulting_instruction()
    {
        // A pointer walks a page at a time into a page that is not present: each new page's load misses the TLB and
        // is handed back (decoded from the compact block's bytes), and the last one faults there.
        const ulong NotPresent = Data + 5 * 4096;
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(rsi, Data);
            a.mov(rbx, Data + 0x800);
            a.Label(ref top);
            a.add(rdi, 3);
            a.mov(__qword_ptr[rbx], rdi);
            a.mov(rdx, __qword_ptr[rsi + 8]);
            a.add(rsi, 4096);
            a.inc(r8);
            a.jmp(top);
        }
        var (_, native) = RunBothWays(Program, g => g.SetPte(NotPresent, 0));

        Assert.Equal(14UL, native.FaultVector);
        Assert.Equal(NotPresent + 8, native.FaultAddress);
        Assert.Equal(5UL, native.Registers.R8);
        Assert.Equal(18UL, native.Registers.Rdi); // the ADD before the load ran six times, the INC after it five
        Assert.True(native.Steps >= 5, $"{native.Steps} instructions handed back");
    }

    [Fact]
    public void A_compact_block_whose_page_is_written_with_the_same_bytes_keeps_its_translation()
    {
        // The loop stores into its own page each round, past its code: the stale compact block's bytes are decoded
        // again and compared with the fresh decode, which is the same, so it is not translated again.
        void Program(Assembler a)
        {
            a.mov(ecx, 200);
            a.mov(rax, NativeTranslationReuseTests.Loop);
            a.jmp(rax);
        }
        void LoadLoop(PagedGuest g) => g.Guest.Load(NativeTranslationReuseTests.Loop, 64, NativeTranslationReuseTests.StoringLoop);
        var (_, native) = RunBothWays(Program, LoadLoop);

        Assert.Equal(200UL * 201 / 2, native.Registers.Rbx);
        Assert.True(native.Translations is > 0 and < 10, $"{native.Translations} translations");
    }

    [Fact]
    public void A_compact_block_whose_instruction_is_rewritten_is_translated_again_and_runs_the_new_code()
    {
        void Program(Assembler a)
        {
            a.mov(ecx, 50);
            a.mov(rax, Loop);
            a.jmp(rax);
        }
        var (_, native) = RunBothWays(Program, g => g.Guest.Load(Loop, 64, a => NativeTierTests.EmitImmediateRewritingLoop(a, Loop, 1000)));

        ulong expected = 1;
        for (int k = 2; k <= 50; k++) expected += (ulong)(1000 + 50 - k + 2);
        Assert.Equal(expected, native.Registers.Rbx);
        Assert.True(native.Translations >= 25, $"{native.Translations} translations");
    }

    [Fact]
    public void Single_stepping_into_a_compact_block_traps_after_each_instruction()
    {
        // The loop runs hot (translated, compact), then once more with TF set: the #DB handler logs each return RIP.
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(ecx, 100);
            a.xor(r12d, r12d);
            a.Label(ref top);
            a.add(rax, rcx);
            a.mov(__qword_ptr[Data + 8], rax);
            a.xor(rax, __qword_ptr[Data + 16]);
            a.dec(ecx);
            a.jnz(top);
            a.test(r12d, r12d);
            a.jnz(DebugHandler + 0x100); // the second pass is over: done
            a.inc(r12d);
            a.mov(ecx, 2);
            a.pushfq();
            a.or(__qword_ptr[rsp], 0x100);
            a.popfq();
            a.jmp(top);
        }
        void Prepare(PagedGuest g)
        {
            g.Guest.SetGate64(1, SegmentedGuest.KernelCode64, DebugHandler);
            g.Guest.Load(DebugHandler, 64, a =>
            {
                a.push(rax);
                a.push(rbx);
                a.mov(rbx, __qword_ptr[StepCount]);
                a.mov(rax, __qword_ptr[rsp + 16]);
                a.and(rbx, 63);
                a.mov(__qword_ptr[rbx * 8 + (long)StepLog], rax);
                a.inc(__qword_ptr[StepCount]);
                a.pop(rbx);
                a.pop(rax);
                a.iretq();
            });
            g.Guest.Load(DebugHandler + 0x100, 64, a =>
            {
                a.pushfq();
                a.and(__qword_ptr[rsp], ~0x100);
                a.popfq();
                a.hlt();
            });
        }
        var (_, native) = RunBothWays(Program, Prepare);

        // Two rounds of the loop's five instructions, and the instructions after it up to the POPFQ clearing TF.
        Assert.StartsWith("16: ", native.StepLog);
    }
}
