using Vessel.Cpu.Tests.Segmentation;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Hostile;

/// <summary>Counters a guest drives must not come round to an old value: each test moves one, while the guest
/// waits at an IN, to 2^32 - 1 past where a cached block or link saw it, so that the guest's next bump lands
/// exactly 2^32 further, where a 32-bit counter would equal the cached value again and the stale code would run.</summary>
[Trait("Category", "Hostile")]
public class CounterWrapTests
{
    private const ulong Callee = 0x20000, OtherCallee = 0x21000;
    private const long Wrap = 1L << 32;

    [Fact]
    public void A_code_page_rewritten_when_its_generation_passes_2_to_the_32_is_decoded_again()
    {
        using var g = new PagedGuest();
        g.Guest.Load(Callee, 64, a => { a.mov(eax, 1); a.ret(); });
        X86Cpu cpu = g.Guest.Cpu;
        CodePageMap code = ((EmuVirtualMachine)g.Guest.Guest.Vm).Code;
        long generationSeen = 0;
        VcpuExit exit = g.Run(a =>
        {
            var loop = a.CreateLabel();
            a.mov(ecx, 2);
            a.xor(ebx, ebx);
            a.Label(ref loop);
            a.mov(rax, Callee);
            a.call(rax);
            a.shl(rbx, 4);
            a.add(rbx, rax);
            a.@in(al, 0x80);                        // the test moves the callee page's generation here
            a.mov(__byte_ptr[Callee + 1], 2);       // mov eax, 1 -> mov eax, 2: one bump of the generation
            a.dec(ecx);
            a.jnz(loop);
            a.hlt();
        }, portValue: _ =>
        {
            generationSeen = code.Generation(Callee);
            code.SetGenerationForTests(Callee, generationSeen + Wrap - 1);
            return 0;
        });
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.NotEqual(0, generationSeen);
        Assert.Equal(0x12UL, g.Guest.Registers.Rbx); // 0x11: the block decoded before the write ran again
        Assert.Equal(generationSeen + Wrap, code.Generation(Callee)); // the last pass moved it, its write bumped it
    }

    [Fact]
    public void A_block_link_does_not_survive_a_translation_epoch_2_to_the_32_later()
    {
        using var g = new PagedGuest();
        g.Guest.Load(Callee, 64, a => { a.mov(eax, 1); a.ret(); });
        g.Guest.Load(OtherCallee, 64, a => { a.mov(eax, 2); a.ret(); });
        X86Cpu cpu = g.Guest.Cpu;
        int reads = 0;
        VcpuExit exit = g.Run(a =>
        {
            var loop = a.CreateLabel();
            var keep = a.CreateLabel();
            a.mov(ecx, 3);
            a.xor(ebx, ebx);
            a.mov(rdx, Callee);
            a.Label(ref loop);
            a.call(rdx);                            // from the second pass on, this block links to the callee's
            a.shl(rbx, 4);
            a.add(rbx, rax);
            a.@in(al, 0x80);                        // the test moves the translation epoch on the second pass
            a.cmp(ecx, 2);
            a.jne(keep);
            // Remap the callee's linear page onto the other code and reload CR3: one bump of the epoch.
            a.mov(rax, OtherCallee | PagedGuest.Present | PagedGuest.Writable);
            a.mov(__qword_ptr[PagedGuest.Pt + (Callee >> 12) * 8], rax);
            a.mov(rax, cr3);
            a.mov(cr3, rax);
            a.Label(ref keep);
            a.dec(ecx);
            a.jnz(loop);
            a.hlt();
        }, portValue: _ =>
        {
            if (++reads == 2) cpu.TranslationEpochForTests += Wrap - 1;
            return 0;
        });
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal(0x112UL, g.Guest.Registers.Rbx); // 0x111: the stale link ran the unmapped page's code
    }
}
