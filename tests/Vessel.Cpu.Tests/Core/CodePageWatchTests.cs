using Iced.Intel;
using Vessel.Cpu.Native;
using Vessel.Cpu.Tests.Native;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Core;

/// <summary>A code page is watched from a decode until the first write after it (see <see cref="CodePageMap"/>):
/// data written next to code costs one invalidation, not one per write, and code rewritten after that still runs
/// new, under the interpreter and translated.</summary>
public class CodePageWatchTests
{
    private const ulong Page = 0x20000, DataOnPage = Page + 0x800;

    public static TheoryData<string> Tiers => ["interpreter", "native"];

    private static EmuOptions Options(string tier) =>
        tier == "native" ? NativeTierTests.NativeOptions : NativeTierTests.InterpreterOptions;

    [Theory]
    [MemberData(nameof(Tiers))]
    public void Data_writes_next_to_code_invalidate_it_once_and_rewritten_code_still_runs_new(string tier)
    {
        const int Rounds = 5, DataWrites = 100;
        using var g = new PagedGuest(Options(tier));
        // The function: MOV EAX, imm32 (the immediate at Page + 1); RET. Its data shares the page.
        g.Guest.Load(Page, 64, a =>
        {
            a.mov(eax, 1);
            a.ret();
        });
        CodePageMap code = ((EmuVirtualMachine)g.Guest.Guest.Vm).Code;
        VcpuExit exit = g.Run(a =>
        {
            var top = a.CreateLabel();
            var data = a.CreateLabel();
            a.mov(ecx, Rounds);
            a.Label(ref top);
            a.mov(rax, Page);
            a.call(rax);
            a.shl(rbx, 4);
            a.add(rbx, rax);
            a.mov(edx, DataWrites);
            a.Label(ref data);
            a.mov(__dword_ptr[DataOnPage], edx);
            a.dec(edx);
            a.jnz(data);
            a.mov(__dword_ptr[Page + 1], ecx); // the next call returns ECX: the page is no longer watched by now
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        });

        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal(0x15432UL, g.Guest.Registers.Rbx); // 1, then 5, 4, 3, 2: each round ran the code written last
        // The first decode made the page code (1); each round's call decoded it again and its first data write
        // invalidated it (one bump), the other 99 and the code write went through the write TLB.
        Assert.Equal(1 + Rounds, code.Generation(Page));
    }

    [Theory]
    [MemberData(nameof(Tiers))]
    public void Code_that_rewrites_itself_right_after_its_page_is_watched_again_runs_the_new_bytes(string tier)
    {
        // The function stores CL into the immediate of the MOV after it. Before each call, data writes to the page
        // unwatch it and put it in the write TLB; the call's decode watches it again, and its own write TLB must
        // drop the page then, or the store would reach the code unseen and the stale MOV would run.
        const int Rounds = 40;
        using var g = new PagedGuest(Options(tier));
        g.Guest.Load(Page, 64, a =>
        {
            a.db(0x88, 0x0C, 0x25); // MOV [Page + 0x11], CL (absolute disp32): 7 bytes
            a.dd((int)(Page + 0x11));
            for (int pad = 7; pad < 0x10; pad++) a.nop();
            a.mov(eax, 0); // at Page + 0x10: B8 imm32
            a.ret();
        });
        VcpuExit exit = g.Run(a =>
        {
            var top = a.CreateLabel();
            a.mov(ecx, Rounds);
            a.Label(ref top);
            a.mov(__dword_ptr[DataOnPage], ecx);
            a.mov(__dword_ptr[DataOnPage + 4], ecx);
            a.mov(rax, Page);
            a.call(rax);
            a.add(rbx, rax);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        });

        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal((ulong)(Rounds * (Rounds + 1) / 2), g.Guest.Registers.Rbx);
    }
}
