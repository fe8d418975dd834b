using Iced.Intel;
using Vessel.Cpu.Tests.Segmentation;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>The jump cache and the block links across privilege-level changes and real invalidations: a CS load that
/// keeps the bitness (INT, IRETQ) keeps the entries of both levels, while an entry or link made at CPL 0 is never
/// followed at CPL 3 (the target's page may be supervisor-only), and a CR3 reload or INVLPG that maps the target's
/// linear page elsewhere is seen. Every program runs on the interpreter and on the native tier.</summary>
public class NativeJumpCacheLevelTests
{
    // Pages of the identity-mapped first 2 MiB: supervisor unless a test gives them the user bit.
    internal const ulong UserStackTop = SegmentedGuest.UserStack + 0xF00;
    private const ulong SupervisorFunction = 0x22000, SharedLoop = 0x24000, UserFunction = 0x25000, UserCode = 0x26000,
        Remapped = 0x28000, RemappedOther = 0x29000, IntHandler = 0x2A000;
    private const int Passes = 40, SoftwareInterrupt = 0x40;

    public static TheoryData<bool> Tiers => new() { false, true };

    private static EmuOptions Options(bool native) => native ? NativeTierTests.NativeOptions : NativeTierTests.InterpreterOptions;

    internal static void UserPage(PagedGuest g, ulong page) =>
        g.SetPte(page, page | PagedGuest.Present | PagedGuest.Writable | PagedGuest.User);

    /// <summary>Pushes an IRETQ frame to <paramref name="rip"/> in ring 3 and returns there.</summary>
    internal static void IretToUser(Assembler a, ulong rip, int rflags = 2)
    {
        a.push(SegmentedGuest.UserData);
        a.push((int)UserStackTop);
        a.push(rflags);
        a.push(SegmentedGuest.UserCode64);
        a.push((int)rip);
        a.iretq();
    }

    [Theory]
    [MemberData(nameof(Tiers))]
    public void A_supervisor_target_cached_at_cpl0_faults_when_user_code_jumps_to_it(bool native)
    {
        // One loop in a user page runs at CPL 0 and then at CPL 3, CALLing through RDX a function in a supervisor
        // page. At CPL 0 the call is cached (and linked); at CPL 3 the same call must fetch-fault on the function's
        // page, not run it through the entry or link made at CPL 0. Every piece of code lives in a page decoded
        // before the loop runs: decoding a page afresh moves the code epoch, which clears the cache anyway.
        const ulong KernelContinuation = SegmentedGuest.CodeBase + 0x200, UserEntry = SharedLoop + 0x100;
        using var g = new PagedGuest(Options(native));
        UserPage(g, SharedLoop);
        UserPage(g, SegmentedGuest.UserStack);
        g.Guest.Load(SupervisorFunction, 64, a =>
        {
            a.inc(rbx);
            a.ret();
        });
        g.Guest.Load(SharedLoop, 64, a =>
        {
            var top = a.CreateLabel();
            a.Label(ref top);
            a.call(rdx);
            a.dec(ecx);
            a.jnz(top);
            a.jmp(r15);
        });
        g.Guest.Load(KernelContinuation, 64, a => IretToUser(a, UserEntry));
        g.Guest.Load(UserEntry, 64, a =>
        {
            a.push(rax); // the user stack in the write TLB: the CALL's push must not miss and hand the CALL back
            a.pop(rax);
            a.mov(ecx, Passes);
            a.mov(r15, UserEntry + 0x80); // never reached
            a.jmp(SharedLoop);
        });

        VcpuExit exit = g.Run(a =>
        {
            a.mov(ecx, Passes);
            a.mov(rdx, SupervisorFunction);
            a.mov(r15, KernelContinuation);
            a.jmp(SharedLoop);
        });

        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal(14UL, g.Guest.ReadU64(PagedGuest.FaultVector));
        Assert.Equal(SupervisorFunction, g.Guest.ReadU64(PagedGuest.FaultAddress));
        Assert.Equal(SupervisorFunction, g.Guest.ReadU64(PagedGuest.FaultRip));
        // Present, user, instruction fetch.
        Assert.Equal(0x15UL, g.Guest.ReadU64(PagedGuest.FaultCode));
        Assert.Equal((ulong)Passes, g.Guest.Registers.Rbx); // the kernel's calls only
        Assert.Equal((ulong)Passes, g.Guest.Registers.Rcx); // the user loop's first call faulted
    }

    [Theory]
    [MemberData(nameof(Tiers))]
    public void Entries_survive_interrupts_and_iretq_between_the_levels(bool native)
    {
        // A user loop CALLs a function in another user page and enters the kernel with INT on every pass; the handler
        // IRETQs back. Neither CS load changes a mapping, so the entries of both levels stay.
        const int Rounds = 200;
        using var g = new PagedGuest(Options(native));
        UserPage(g, UserCode);
        UserPage(g, UserFunction);
        UserPage(g, SegmentedGuest.UserStack);
        g.Guest.SetGate64(SoftwareInterrupt, SegmentedGuest.KernelCode64, IntHandler, dpl: 3);
        g.Guest.Load(IntHandler, 64, a =>
        {
            var done = a.CreateLabel();
            a.inc(r14);
            a.cmp(r14, Rounds);
            a.je(done);
            a.iretq();
            a.Label(ref done);
            a.hlt();
        });
        g.Guest.Load(UserFunction, 64, a =>
        {
            a.add(rbx, rdi);
            a.ret();
        });
        g.Guest.Load(UserCode, 64, a =>
        {
            var top = a.CreateLabel();
            a.mov(rdx, UserFunction);
            a.Label(ref top);
            a.inc(rdi);
            a.call(rdx);
            a.@int(SoftwareInterrupt);
            a.jmp(top);
        });

        VcpuExit exit = g.Run(a => IretToUser(a, UserCode));

        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal(0UL, g.Guest.ReadU64(PagedGuest.FaultVector));
        Assert.Equal((ulong)Rounds, g.Guest.Registers.R14);
        Assert.Equal((ulong)Rounds * (Rounds + 1) / 2, g.Guest.Registers.Rbx);
        if (native)
        {
            // Cleared at every CS load, the cache took the function and the return address again on every pass.
            long fills = g.Guest.Cpu.NativeJumpCacheFills;
            Assert.True(fills < Rounds / 4, $"{fills} jump-cache fills for {Rounds} rounds");
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void A_target_whose_page_is_mapped_elsewhere_runs_the_new_code(bool native, bool invlpg)
    {
        // A hot CALL through RDX to a linear page, which the program then maps onto other code and makes the CPU see
        // (CR3 reload or INVLPG): the calls after it run the other code, not the cached or linked translation.
        using var g = new PagedGuest(Options(native));
        g.Guest.Load(Remapped, 64, a =>
        {
            a.add(rbx, 1);
            a.ret();
        });
        g.Guest.Load(RemappedOther, 64, a =>
        {
            a.add(rbx, 1000);
            a.ret();
        });

        VcpuExit exit = g.Run(a =>
        {
            var first = a.CreateLabel();
            var second = a.CreateLabel();
            a.mov(rdx, Remapped);
            a.mov(ecx, Passes);
            a.Label(ref first);
            a.call(rdx);
            a.dec(ecx);
            a.jnz(first);
            a.mov(rax, RemappedOther | PagedGuest.Present | PagedGuest.Writable);
            a.mov(__qword_ptr[PagedGuest.Pt + (Remapped >> 12) * 8], rax);
            if (invlpg)
            {
                a.invlpg(__[rdx]);
            }
            else
            {
                a.mov(rax, cr3);
                a.mov(cr3, rax);
            }
            a.mov(ecx, Passes);
            a.Label(ref second);
            a.call(rdx);
            a.dec(ecx);
            a.jnz(second);
            a.hlt();
        });

        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal(0UL, g.Guest.ReadU64(PagedGuest.FaultVector));
        Assert.Equal((ulong)Passes * 1001, g.Guest.Registers.Rbx);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void A_cr3_reload_keeps_the_entries_of_global_pages_only(bool native, bool global)
    {
        // A loop CALLs a function in another page and reloads CR3 on every pass. With CR4.PGE and both pages global
        // the TLB keeps their translations, and the jump cache its entries; otherwise every pass fills it afresh.
        const ulong Global = 0x100;
        using var g = new PagedGuest(Options(native));
        if (global)
        {
            g.SetPte(SegmentedGuest.CodeBase, SegmentedGuest.CodeBase | PagedGuest.Present | PagedGuest.Writable | Global);
            g.SetPte(Remapped, Remapped | PagedGuest.Present | PagedGuest.Writable | Global);
        }
        g.Guest.Load(Remapped, 64, a =>
        {
            a.add(rbx, 1);
            a.ret();
        });

        VcpuExit exit = g.Run(a =>
        {
            var top = a.CreateLabel();
            a.mov(rax, cr4);
            a.or(rax, (int)ControlRegisters.Cr4Pge);
            a.mov(cr4, rax);
            a.mov(rdx, Remapped);
            a.mov(ecx, Passes);
            a.Label(ref top);
            a.call(rdx);
            a.mov(rax, cr3);
            a.mov(cr3, rax);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        });

        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal((ulong)Passes, g.Guest.Registers.Rbx);
        if (!native) return;
        long fills = g.Guest.Cpu.NativeJumpCacheFills;
        if (global) Assert.True(fills < Passes / 4, $"{fills} jump-cache fills for {Passes} passes");
        else Assert.True(fills >= Passes, $"{fills} jump-cache fills for {Passes} passes");
    }
}
