using Iced.Intel;
using Vessel.Cpu.Native;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>Translated code after the guest remaps a page it has just used: each round reads, writes and pushes
/// through a window whose page-table entry the round then flips to another physical page, followed by INVLPG or a
/// CR3 reload; every access must see the new page, as the interpreter does (a stale TLB entry would read the old
/// page and write into it).</summary>
public class NativeTlbInvalidationTests
{
    private const ulong Data = 0x100000, Window = 0x110000, StackWindow = 0x118000;
    private const ulong PageA = Data + 0x1000, PageB = Data + 0x2000;

    private sealed record Outcome(Registers Registers, ulong Retired, string Memory, long Translations);

    private static Outcome Run(EmuOptions options, Action<Assembler> code)
    {
        using var g = new PagedGuest(options);
        for (int k = 0; k < 0x200; k++)
        {
            g.Guest.WriteU64(PageA + (ulong)k * 8, 0x1000UL + (ulong)k);
            g.Guest.WriteU64(PageB + (ulong)k * 8, 0x2000UL + (ulong)k * 3);
        }
        g.SetPte(Window, PageA | PagedGuest.Present | PagedGuest.Writable);
        g.SetPte(StackWindow, PageB | PagedGuest.Present | PagedGuest.Writable);
        VcpuExit exit = g.Run(code);
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        var memory = new byte[0x3000];
        g.Guest.Memory.Read(Data, memory);
        return new Outcome(g.Guest.Guest.Vcpu.GetRegisters(), (ulong)g.Guest.Cpu.State.InstructionsRetired,
            Convert.ToHexString(memory), g.Guest.Cpu.NativeTranslations);
    }

    [Theory]
    [InlineData("invlpg", false)]
    [InlineData("cr3", false)]
    [InlineData("invlpg", true)]
    [InlineData("cr3", true)]
    public void Accesses_after_a_remap_and_its_invalidation_see_the_new_page(string invalidation, bool savingProbe)
    {
        const int Rounds = 300;
        ulong windowPte = PagedGuest.Pt + (Window >> 12) * 8, stackPte = PagedGuest.Pt + (StackWindow >> 12) * 8;
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(ecx, Rounds);
            a.mov(rbp, rsp);
            a.Label(ref top);
            a.mov(eax, ecx);
            a.and(eax, 0x1F);
            a.mov(rdx, __qword_ptr[rax * 8 + (long)Window]);     // read through the window
            a.add(r12, rdx);
            a.movzx(edx, __byte_ptr[rax * 8 + (long)Window + 1]); // and a byte of it
            a.add(r13, rdx);
            a.mov(__qword_ptr[rax * 8 + (long)Window + 0x400], r12); // write through it
            a.mov(rsp, StackWindow + 0x800);                  // the stack through the other window
            a.push(r12);
            a.pop(rdx);
            a.xor(r13, rdx);
            a.mov(rsp, rbp);
            // Swap the two windows' physical pages, then invalidate.
            a.xor(__qword_ptr[windowPte], 0x3000);
            a.xor(__qword_ptr[stackPte], 0x3000);
            if (invalidation == "invlpg")
            {
                a.mov(rdx, Window);
                a.invlpg(__[rdx]);
                a.mov(rdx, StackWindow);
                a.invlpg(__[rdx]);
            }
            else
            {
                a.mov(rdx, cr3);
                a.mov(cr3, rdx);
            }
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        Outcome interpreted = Run(NativeTierTests.InterpreterOptions, Program);
        NativeTranslator.ForceFlagSavingProbe = savingProbe;
        NativeTranslator.ForceFlagKeepingProbe = !savingProbe;
        Outcome native;
        try { native = Run(NativeTierTests.NativeOptions, Program); }
        finally { NativeTranslator.ForceFlagSavingProbe = NativeTranslator.ForceFlagKeepingProbe = false; }

        Assert.Equal(interpreted with { Translations = 0 }, native with { Translations = 0 });
        Assert.NotEqual(0UL, native.Registers.R12);
        Assert.True(native.Translations >= 1, "nothing was translated");
    }
}
