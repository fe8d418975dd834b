using Iced.Intel;
using Vessel.Cpu.Native;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>Translated blocks chained by patched jumps: loops across several blocks agree with the interpreter, come
/// back to the run loop within the loop budget, and a code write or a dropped block takes the jumps into it away.</summary>
public class NativeChainingTests
{
    private sealed record Outcome(Registers Registers, ulong Retired, long Entries, long Links, long ChainedReturns);

    private static Outcome Run(EmuOptions options, Action<Assembler> code, Action<PagedGuest>? prepare = null)
    {
        using var g = new PagedGuest(options);
        prepare?.Invoke(g);
        VcpuExit exit = g.Run(code);
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        X86Cpu cpu = g.Guest.Cpu;
        return new Outcome(g.Guest.Guest.Vcpu.GetRegisters(), (ulong)cpu.State.InstructionsRetired, cpu.NativeEntries,
            cpu.NativeLinks, cpu.NativeChainedReturns);
    }

    [Fact]
    public void A_loop_across_two_blocks_runs_chained_agrees_with_the_interpreter_and_returns_within_its_budget()
    {
        const int Iterations = 50_000;
        void Program(Assembler a)
        {
            // The CRC bit step split by a JMP: [ADD; JMP] then [SHR; JNC; XOR; DEC; JNZ], two blocks per iteration.
            var top = a.CreateLabel();
            var second = a.CreateLabel();
            var noXor = a.CreateLabel();
            a.mov(ecx, Iterations);
            a.mov(edx, 0x1234_5678);
            a.Label(ref top);
            a.add(rax, rcx);
            a.jmp(second);
            a.int3();
            a.Label(ref second);
            a.shr(edx, 1);
            a.jnc(noXor);
            a.xor(edx, 0xEDB8_8320);
            a.Label(ref noXor);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        Outcome interpreted = Run(NativeTierTests.InterpreterOptions, Program);
        Outcome native = Run(NativeTierTests.NativeOptions, Program);

        Assert.Equal(interpreted.Registers, native.Registers);
        Assert.Equal(interpreted.Retired, native.Retired);
        Assert.Equal((ulong)Iterations * (Iterations + 1) / 2, native.Registers.Rax);
        Assert.True(native.Links >= 3, $"{native.Links} links");
        // Two blocks per iteration; unchained that is one entry per block. Chained, an entry runs at most the budget's
        // chained blocks (plus the one entered), so there are at least this many entries, and not many more.
        const int Blocks = 2 * Iterations;
        Assert.True(native.Entries >= Blocks / (NativeTranslator.LoopBudget + 1), $"{native.Entries} entries");
        Assert.True(native.Entries <= Blocks / NativeTranslator.LoopBudget * 2 + 50, $"{native.Entries} entries");
    }

    [Fact]
    public void A_write_into_a_chained_block_unlinks_it_and_the_new_code_runs()
    {
        // Block A: MOV EAX, imm; ADD RBX, RAX; JMP. Block B: every 64th round, rewrite A's immediate; DEC; JNZ A.
        // Between the writes A and B run chained.
        const ulong Loop = 0x21000;
        void LoadLoop(PagedGuest g) => g.Guest.Load(Loop, 64, a =>
        {
            var top = a.CreateLabel();
            var skip = a.CreateLabel();
            var second = a.CreateLabel();
            a.Label(ref top);
            a.mov(eax, 1); // B8 imm32: the immediate is at Loop + 1
            a.add(rbx, rax);
            a.jmp(second);
            a.int3();
            a.Label(ref second);
            a.test(cl, 63);
            a.jnz(skip);
            a.lea(edx, __[rcx + 100]);
            a.mov(__dword_ptr[Loop + 1], edx);
            a.Label(ref skip);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        });
        void Enter(Assembler a)
        {
            a.mov(ecx, 2000);
            a.mov(rax, Loop);
            a.jmp(rax);
        }
        Outcome interpreted = Run(NativeTierTests.InterpreterOptions, Enter, LoadLoop);
        Outcome native = Run(NativeTierTests.NativeOptions, Enter, LoadLoop);

        Assert.Equal(interpreted.Registers, native.Registers);
        Assert.Equal(interpreted.Retired, native.Retired);
        ulong expected = 0, immediate = 1;
        for (int c = 2000; c > 0; c--)
        {
            expected += immediate;
            if ((c & 63) == 0) immediate = (ulong)(c + 100);
        }
        Assert.Equal(expected, native.Registers.Rbx);
        // 31 writes, each dropping the page's translations: the links are made again after each.
        Assert.True(native.Links > 31, $"{native.Links} links");
        // The write is handed back from B while it runs chained from A: the run loop interprets it in B.
        Assert.True(native.ChainedReturns >= 31, $"{native.ChainedReturns} returns from a chained block");
    }

    private static NativeBlock Place(ExecutableArena arena, ulong rip, ulong physical, ulong target)
    {
        // JMP rel32 0 (the chain slot, falling through), RET; the chain entry is the RET.
        byte[] code = [0xE9, 0, 0, 0, 0, 0xC3];
        Assert.True(arena.TryPlace(code, out CodeChunk chunk));
        var owner = new DecodedBlock(4) { StartRip = rip, PhysicalAddress = physical, Generation = 7, Bitness = 64 };
        var native = new NativeBlock(owner, chunk, arena.EntryOf(chunk), new NativeTranslation(code, [0], 5, [0], [target]));
        owner.Native = native;
        return native;
    }

    private static unsafe int SlotDisplacement(NativeBlock block) => *(int*)(block.Code + 1);

    [Fact]
    public void Linking_patches_the_slot_to_the_chain_entry_and_dropping_the_target_unpatches_it()
    {
        using var arena = new ExecutableArena(1 << 20);
        NativeBlock a = Place(arena, 0x401000, 0x9000, target: 0x401800);
        NativeBlock b = Place(arena, 0x401800, 0x9800, target: 0x401000);

        Assert.True(NativeChaining.TryLink(arena, a, 0, b));
        Assert.Equal((long)b.ChainEntry - ((long)a.Code + 5), SlotDisplacement(a));
        Assert.True(NativeChaining.TryLink(arena, b, 0, a));
        Assert.Same(b, a.Outgoing[0]);

        NativeChaining.UnlinkAll(arena, b);
        Assert.Equal(0, SlotDisplacement(a));
        Assert.Null(a.Outgoing[0]);
        Assert.Empty(b.Incoming);
        Assert.Empty(a.Incoming); // b's own jump into a is forgotten with it
    }

    [Fact]
    public void Blocks_in_another_physical_page_or_from_other_bytes_are_not_linked()
    {
        using var arena = new ExecutableArena(1 << 20);
        NativeBlock a = Place(arena, 0x401000, 0x9000, target: 0x401800);
        NativeBlock elsewhere = Place(arena, 0x401800, 0x5800, target: 0);
        Assert.False(NativeChaining.TryLink(arena, a, 0, elsewhere));

        NativeBlock stale = Place(arena, 0x401800, 0x9800, target: 0);
        stale.Owner.Generation = 6;
        Assert.False(NativeChaining.TryLink(arena, a, 0, stale));

        NativeBlock wrongStart = Place(arena, 0x401810, 0x9810, target: 0);
        Assert.False(NativeChaining.TryLink(arena, a, 0, wrongStart));
        Assert.Equal(0, SlotDisplacement(a));
    }
}
