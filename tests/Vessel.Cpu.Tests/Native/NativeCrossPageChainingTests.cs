using Iced.Intel;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>A block whose instruction runs into the next page is chained to and found in the jump cache like any
/// other: the loops here run mostly inside translated code, and still see a write to the second page, or that page
/// mapped elsewhere, at once, as the interpreter does.</summary>
public class NativeCrossPageChainingTests
{
    /// <summary>Where the loop starts (page P); the crossing <c>MOV EAX, imm32</c> starts at <see cref="Crossing"/>,
    /// its first immediate byte on P and the other three on Q, followed by <c>DEC ECX; JNZ top; HLT</c> on Q.</summary>
    private const ulong Top = 0x21F00, Crossing = 0x21FFE, SecondPage = 0x22000;
    /// <summary>Another physical page the remapping loop maps at <see cref="SecondPage"/>: its own immediate bytes and
    /// the same tail.</summary>
    private const ulong OtherPhysical = 0x25000;
    private const int Iterations = 4000;

    private sealed record Outcome(Registers Registers, ulong Retired, long Entries, long Links);

    /// <summary>The crossing block and what follows it on Q.</summary>
    private static void LoadCrossing(PagedGuest g)
    {
        g.Guest.Load(Crossing, 64, a =>
        {
            a.mov(eax, 1); // B8 01 00 00 00: the last three bytes on Q
            a.dec(ecx);
            a.jnz(Top);
            a.hlt();
        });
        Assert.Equal(0xB8, g.Guest.Memory.ReadByte(Crossing));
    }

    /// <summary>The loop head on P: RBX sums EAX; every 64th round <paramref name="change"/> runs; then to the
    /// crossing block by a direct JMP (a chain slot) or through RSI (the jump cache).</summary>
    private static void LoadHead(PagedGuest g, bool indirect, Action<Assembler> change) => g.Guest.Load(Top, 64, a =>
    {
        var skip = a.CreateLabel();
        a.add(rbx, rax);
        a.test(cl, 63);
        a.jnz(skip);
        change(a);
        a.Label(ref skip);
        if (indirect) a.jmp(rsi);
        else a.jmp(Crossing);
    });

    private static void Enter(Assembler a)
    {
        a.mov(ecx, Iterations);
        a.xor(eax, eax);
        a.xor(ebx, ebx);
        a.mov(rsi, Crossing);
        a.mov(rdx, Top);
        a.jmp(rdx);
    }

    private static Outcome Run(EmuOptions options, Action<PagedGuest> prepare)
    {
        using var g = new PagedGuest(options);
        prepare(g);
        VcpuExit exit = g.Run(Enter);
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        X86Cpu cpu = g.Guest.Cpu;
        return new Outcome(g.Guest.Guest.Vcpu.GetRegisters(), (ulong)cpu.State.InstructionsRetired, cpu.NativeEntries, cpu.NativeLinks);
    }

    /// <summary>RBX after the loop when the immediate changes from the first round <paramref name="change"/> has
    /// seen: each round adds the EAX the previous round's crossing MOV loaded.</summary>
    private static ulong ExpectedSum(Func<int, uint, uint> change)
    {
        ulong sum = 0, eax = 0;
        uint immediate = 1;
        for (int c = Iterations; c > 0; c--)
        {
            sum += eax;
            if ((c & 63) == 0) immediate = change(c, immediate);
            eax = immediate;
        }
        return sum;
    }

    private static void AssertAgreesAndRanChained(Outcome interpreted, Outcome native, ulong expectedRbx, bool indirect)
    {
        Assert.Equal(expectedRbx, interpreted.Registers.Rbx);
        Assert.Equal(interpreted.Registers, native.Registers);
        Assert.Equal(interpreted.Retired, native.Retired);
        // Three blocks a round; back to the run loop at each round were the crossing block not linked or cached.
        Assert.True(native.Entries < Iterations / 2, $"{native.Entries} entries into translated code for {Iterations} rounds");
        if (!indirect) Assert.True(native.Links >= 1, $"{native.Links} links");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_write_to_the_second_page_of_a_linked_or_cached_crossing_block_runs_the_new_bytes(bool indirect)
    {
        // Every 64th round writes CL into the immediate's second byte, the first on Q.
        void Prepare(PagedGuest g)
        {
            LoadCrossing(g);
            LoadHead(g, indirect, a => a.mov(__byte_ptr[SecondPage], cl));
        }
        Outcome interpreted = Run(NativeTierTests.InterpreterOptions, Prepare);
        Outcome native = Run(NativeTierTests.NativeOptions, Prepare);

        AssertAgreesAndRanChained(interpreted, native, ExpectedSum((c, imm) => (imm & 0xFFFF_00FF) | (uint)(c & 0xFF) << 8), indirect);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Remapping_the_second_page_of_a_linked_or_cached_crossing_block_runs_the_new_mapping(bool indirect)
    {
        // Every 64th round flips Q's page-table entry between its own page and OtherPhysical (same tail, immediate
        // bytes 77 66 55) and invalidates it with INVLPG. Only the page table is written: no code page changes.
        void Prepare(PagedGuest g)
        {
            LoadCrossing(g);
            var page = new byte[4096];
            g.Guest.Memory.Read(SecondPage, page);
            page[0] = 0x77;
            page[1] = 0x66;
            page[2] = 0x55;
            g.Guest.Memory.Write(OtherPhysical, page);
            ulong entry = PagedGuest.Pt + (SecondPage >> 12) * 8;
            LoadHead(g, indirect, a =>
            {
                a.xor(__qword_ptr[entry], (int)(SecondPage ^ OtherPhysical));
                a.invlpg(__byte_ptr[SecondPage]);
            });
        }
        Outcome interpreted = Run(NativeTierTests.InterpreterOptions, Prepare);
        Outcome native = Run(NativeTierTests.NativeOptions, Prepare);

        AssertAgreesAndRanChained(interpreted, native, ExpectedSum((_, imm) => imm == 1 ? 0x5566_7701u : 1u), indirect);
    }
}
