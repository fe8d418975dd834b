using Iced.Intel;
using Vessel.Cpu.Native;
using Vessel.Cpu.Tests.Segmentation;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>The native tier against the interpreter on long-mode guests with 4 KiB pages: the same program run both
/// ways must leave the same registers, flags, memory and instruction count, and the native run must really have run
/// translated code (its counters say so).</summary>
public class NativeTierTests
{
    internal static readonly EmuOptions NativeOptions = new() { Tier = EmuTier.Native, JitThreshold = 1 };
    internal static readonly EmuOptions InterpreterOptions = new() { Tier = EmuTier.Interpreter };
    private const ulong Data = 0x100000, Function = 0x20000;

    private sealed record Outcome(Registers Registers, ulong Retired, string Memory, ulong FaultVector, ulong FaultRip, ulong FaultAddress,
        long Translations, long Entries, long Steps);

    private static Outcome Run(EmuOptions options, Action<Assembler> code, Action<PagedGuest>? prepare = null, Action<Assembler>? function = null)
    {
        using var g = new PagedGuest(options);
        prepare?.Invoke(g);
        if (function != null) g.Guest.Load(Function, 64, function);
        VcpuExit exit = g.Run(code);
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        X86Cpu cpu = g.Guest.Cpu;
        var memory = new byte[0x3000];
        g.Guest.Memory.Read(Data, memory);
        return new Outcome(g.Guest.Guest.Vcpu.GetRegisters(), (ulong)cpu.State.InstructionsRetired, Convert.ToHexString(memory),
            g.Guest.ReadU64(PagedGuest.FaultVector), g.Guest.ReadU64(PagedGuest.FaultRip), g.Guest.ReadU64(PagedGuest.FaultAddress),
            cpu.NativeTranslations, cpu.NativeEntries, cpu.NativeSteps);
    }

    private static void AssertSameGuestState(Outcome expected, Outcome actual)
    {
        Assert.Equal(expected.Registers, actual.Registers);
        Assert.Equal(expected.Retired, actual.Retired);
        Assert.Equal(expected.Memory, actual.Memory);
        Assert.Equal(expected.FaultVector, actual.FaultVector);
        Assert.Equal(expected.FaultRip, actual.FaultRip);
        Assert.Equal(expected.FaultAddress, actual.FaultAddress);
    }

    /// <summary>A loop of register ALU, loads, stores, PUSH/POP and a CALL/RET: translated after its first run.</summary>
    private static void HotLoop(Assembler a)
    {
        var top = a.CreateLabel();
        var skip = a.CreateLabel();
        a.mov(rbx, Data);
        a.mov(ecx, 500);
        a.xor(eax, eax);
        a.mov(rdx, 0x0123_4567_89AB_CDEFUL);
        a.Label(ref top);
        a.add(rax, rcx);
        a.mov(__qword_ptr[rbx + rcx * 8], rax);
        a.mov(rsi, __qword_ptr[rbx + rcx * 8 - 8]);
        a.xor(rsi, rdx);
        a.add(__dword_ptr[rbx + 0x2000], esi);
        a.push(rsi);
        a.pop(rdi);
        a.lea(r8, __[rdi + rcx * 4 + 7]);
        a.imul(r9, r8, 13);
        a.cmp(r9, rdx);
        a.jb(skip);
        a.adc(r10, 1);
        a.Label(ref skip);
        a.call(Function);
        a.dec(ecx);
        a.jnz(top);
        a.hlt();
    }

    private static void AccumulatingFunction(Assembler a)
    {
        a.add(r11, __qword_ptr[rbx + 0x2008]);
        a.add(__qword_ptr[rbx + 0x2008], 1);
        a.ret();
    }

    [Fact]
    public void A_hot_loop_with_memory_stack_and_calls_runs_translated_and_agrees_with_the_interpreter()
    {
        Outcome interpreted = Run(InterpreterOptions, HotLoop, function: AccumulatingFunction);
        Outcome native = Run(NativeOptions, HotLoop, function: AccumulatingFunction);

        AssertSameGuestState(interpreted, native);
        Assert.Equal(0L, interpreted.Translations);
        Assert.True(native.Translations >= 3, $"{native.Translations} blocks translated");
        // Three blocks a round (the loop, the function, the rest after the CALL), run chained through the CALL and
        // the RET: an entry runs at most the loop budget's blocks after the one entered.
        Assert.True(native.Entries >= 3 * 500 / (NativeTranslator.LoopBudget + 1), $"{native.Entries} entries into translated code");
        // After the first rounds have filled the TLB, nothing goes back to the interpreter but the first touches.
        Assert.True(native.Steps < 100, $"{native.Steps} instructions handed back");
        Assert.Equal(500UL * 501 / 2, native.Registers.Rax);
    }

    [Fact]
    public void A_self_loop_returns_to_the_dispatcher_after_its_budget_and_still_counts_every_instruction()
    {
        const int Iterations = 100_000;
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(ecx, Iterations);
            a.Label(ref top);
            a.add(rax, rcx);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        Outcome interpreted = Run(InterpreterOptions, Program);
        Outcome native = Run(NativeOptions, Program);

        AssertSameGuestState(interpreted, native);
        Assert.Equal((ulong)Iterations * (Iterations + 1) / 2, native.Registers.Rax);
        // Each entry runs at most the budget's iterations, so the dispatcher saw the loop that many times.
        Assert.True(native.Entries >= Iterations / Vessel.Cpu.Native.NativeTranslator.LoopBudget, $"{native.Entries} entries");
        Assert.True(native.Entries <= Iterations / Vessel.Cpu.Native.NativeTranslator.LoopBudget + 10, $"{native.Entries} entries");
    }

    [Fact]
    public void A_page_fault_in_the_middle_of_a_translated_block_stops_at_the_faulting_instruction()
    {
        // Walks a pointer a page at a time into a page that is not present; the block is translated on its first run,
        // each new page's load misses the TLB (the interpreter fills it), and the last one faults.
        const ulong NotPresent = Data + 5 * 4096;
        Label load = default;
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            load = a.CreateLabel();
            a.mov(rsi, Data);
            a.mov(rbx, Data + 0x800);
            a.Label(ref top);
            a.add(rdi, 3);
            a.mov(__qword_ptr[rbx], rdi);
            a.cmp(rdi, 7);
            a.Label(ref load);
            a.mov(rdx, __qword_ptr[rsi + 8]);
            a.add(rsi, 4096);
            a.inc(r8);
            a.jmp(top);
        }
        void Unmap(PagedGuest g) => g.SetPte(NotPresent, 0);

        Outcome interpreted = Run(InterpreterOptions, Program, Unmap);
        Outcome native = Run(NativeOptions, Program, Unmap);

        AssertSameGuestState(interpreted, native);
        Assert.Equal(14UL, native.FaultVector);
        Assert.Equal(NotPresent + 8, native.FaultAddress);
        Assert.Equal(5UL, native.Registers.R8);
        Assert.Equal(18UL, native.Registers.Rdi); // the ADD before the load ran six times, the INC after it five
        Assert.True(native.Translations >= 1 && native.Entries >= 5, $"{native.Translations} translations, {native.Entries} entries");
    }

    [Fact]
    public void A_store_into_a_translated_block_reaches_the_interpreter_and_the_new_code_runs()
    {
        // The loop patches the immediate of its own MOV each round: a store into a code page never hits the write TLB,
        // so the interpreter takes it and drops the stale translation.
        const ulong Loop = 0x21000;
        void LoadLoop(PagedGuest g) => g.Guest.Load(Loop, 64, a => EmitImmediateRewritingLoop(a, Loop, 100));
        void Enter(Assembler a)
        {
            a.mov(ecx, 20);
            a.mov(rax, Loop);
            a.jmp(rax);
        }
        Outcome interpreted = Run(InterpreterOptions, Enter, LoadLoop);
        Outcome native = Run(NativeOptions, Enter, LoadLoop);

        AssertSameGuestState(interpreted, native);
        // Round 1 adds 1; round k > 1 adds the value stored in round k - 1: 100 + (20 - k + 2).
        ulong expected = 1;
        for (int k = 2; k <= 20; k++) expected += (ulong)(100 + 20 - k + 2);
        Assert.Equal(expected, native.Registers.Rbx);
        Assert.True(native.Translations >= 2, $"{native.Translations} translations");
    }

    /// <summary>A loop at <paramref name="loop"/> that adds its own MOV's immediate to RBX and then rewrites that
    /// immediate (RCX + <paramref name="offset"/>), RCX times: self-modifying code inside one block.</summary>
    internal static void EmitImmediateRewritingLoop(Assembler a, ulong loop, int offset)
    {
        var top = a.CreateLabel();
        a.Label(ref top);
        a.mov(eax, 1); // B8 imm32: the immediate is at loop + 1
        a.add(rbx, rax);
        a.lea(edx, __[rcx + offset]);
        a.mov(__dword_ptr[loop + 1], edx);
        a.dec(ecx);
        a.jnz(top);
        a.hlt();
    }
}
