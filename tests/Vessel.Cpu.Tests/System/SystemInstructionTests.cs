using Vessel.Cpu.Tests.Segmentation;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.System;

public class SystemInstructionTests
{
    private const ulong GpHandler = 0x32000, GpSeen = 0x700;

    private static void RecordGp(PagedGuest g) =>
        g.Guest.Load(GpHandler, 64, a =>
        {
            a.mov(__qword_ptr[GpSeen], 13);
            a.hlt();
        });

    [Fact]
    public void MsrsRoundTripAndAnUnknownOneRaisesGp()
    {
        using var g = new PagedGuest();
        g.Guest.SetGate64(13, SegmentedGuest.KernelCode64, GpHandler);
        RecordGp(g);
        g.Run(a =>
        {
            a.mov(ecx, 0xC000_0082); // LSTAR
            a.mov(eax, 0x1234_5678);
            a.mov(edx, 0xFFFF_8000);
            a.wrmsr();
            a.xor(eax, eax);
            a.xor(edx, edx);
            a.rdmsr();
            a.mov(r8, rax);
            a.mov(r9, rdx);
            a.mov(ecx, 0xC000_0080); // EFER
            a.rdmsr();
            a.mov(r10, rax);
            a.mov(ecx, 0x4B56_4D00); // no such MSR
            a.rdmsr();
            a.hlt();
        });
        var r = g.Guest.Registers;
        Assert.Equal(0x1234_5678UL, r.R8);
        Assert.Equal(0xFFFF_8000UL, r.R9);
        Assert.Equal(ControlRegisters.EferLme | ControlRegisters.EferLma | ControlRegisters.EferNxe, r.R10);
        Assert.Equal(13UL, g.Guest.ReadU64(GpSeen));
    }

    [Fact]
    public void CpuidDescribesTheModel()
    {
        using var g = new PagedGuest();
        g.Run(a =>
        {
            a.xor(eax, eax);
            a.cpuid();
            a.mov(r8, rbx);
            a.mov(r9, rdx);
            a.mov(r10, rcx);
            a.mov(eax, 0x8000_0001);
            a.cpuid();
            a.mov(r11, rdx);
            a.mov(eax, 0x15);
            a.cpuid();
            a.mov(r12, rbx);
            a.mov(r13, rcx);
            a.hlt();
        });
        var r = g.Guest.Registers;
        string vendor = string.Concat(new[] { r.R8, r.R9, r.R10 }.Select(v => global::System.Text.Encoding.ASCII.GetString(BitConverter.GetBytes((uint)v))));
        Assert.Equal("GenuineIntel", vendor);
        Assert.NotEqual(0UL, r.R11 & (1UL << 29)); // long mode
        Assert.NotEqual(0UL, r.R11 & (1UL << 20)); // NX
        Assert.Equal(1_000_000_000UL, r.R13 * r.R12); // crystal x ratio = the TSC frequency
    }

    [Fact]
    public void RdtscMovesForward()
    {
        using var g = new PagedGuest();
        g.Run(a =>
        {
            a.rdtsc();
            a.shl(rdx, 32);
            a.or(rax, rdx);
            a.mov(r8, rax);
            a.mov(ecx, 100_000);
            var spin = a.CreateLabel();
            a.Label(ref spin);
            a.dec(ecx);
            a.jnz(spin);
            a.rdtsc();
            a.shl(rdx, 32);
            a.or(rax, rdx);
            a.hlt();
        });
        var r = g.Guest.Registers;
        Assert.True(r.Rax > r.R8, $"TSC went from {r.R8} to {r.Rax}");
    }

    [Fact]
    public void SyscallEntersTheKernelAndSysretReturnsToUserMode()
    {
        using var g = new PagedGuest();
        const ulong userCode = SegmentedGuest.CodeBase + 0x200, entry = SegmentedGuest.CodeBase + 0x400;
        g.SetPte(SegmentedGuest.CodeBase, SegmentedGuest.CodeBase | PagedGuest.Present | PagedGuest.Writable | PagedGuest.User);
        g.Guest.Load(userCode, 64, a =>
        {
            a.mov(rbx, 0x55);
            a.syscall();
            a.mov(rdx, cs);   // back in ring 3
            a.syscall();      // second entry: the kernel halts
        });
        g.Guest.Load(entry, 64, a =>
        {
            var second = a.CreateLabel();
            a.cmp(rbx, 0x56);
            a.je(second);
            a.mov(rbx, 0x56);
            a.mov(r8, rcx);      // user RIP after SYSCALL
            a.mov(r9, r11);      // user RFLAGS
            a.mov(r10, cs);
            a.sysretq();
            a.Label(ref second);
            a.hlt();
        });
        // STAR: kernel CS 0x18 (SS 0x20 follows it); SYSRET base 0x20: CS = 0x20+16|3 = 0x33, SS = 0x28|3 = 0x2B.
        var exit = g.Run(a =>
        {
            a.mov(ecx, 0xC000_0081);
            a.xor(eax, eax);
            a.mov(edx, 0x0020_0018);
            a.wrmsr();
            a.mov(ecx, 0xC000_0082);
            a.mov(eax, (uint)entry);
            a.xor(edx, edx);
            a.wrmsr();
            a.mov(ecx, 0xC000_0084);
            a.mov(eax, 0x200);   // SFMASK clears IF
            a.wrmsr();
            a.mov(ecx, 0xC000_0080);
            a.rdmsr();
            a.or(eax, 1);        // EFER.SCE
            a.wrmsr();
            a.mov(rcx, userCode);
            a.mov(r11, 0x202);
            a.sysretq();
        });
        var r = g.Guest.Registers;
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        int movLength = Core.TinyGuest.Assemble(64, userCode, a => a.mov(rbx, 0x55)).Length;
        Assert.Equal(userCode + (ulong)movLength + 2, r.R8); // just after the SYSCALL
        Assert.Equal(0x202UL, r.R9 & 0x202);
        Assert.Equal(0x18UL, r.R10);
        Assert.Equal(0x33UL, r.Rdx);
        Assert.Equal(0x18, g.Guest.SpecialRegisters.Cs.Selector);
    }

    [Fact]
    public void SwapgsExchangesTheGsBases()
    {
        using var g = new PagedGuest();
        g.Run(a =>
        {
            a.mov(ecx, 0xC000_0101); // GS base
            a.mov(eax, 0x1000);
            a.xor(edx, edx);
            a.wrmsr();
            a.mov(ecx, 0xC000_0102); // kernel GS base
            a.mov(eax, 0x2000);
            a.wrmsr();
            a.swapgs();
            a.mov(ecx, 0xC000_0101);
            a.rdmsr();
            a.hlt();
        });
        Assert.Equal(0x2000UL, g.Guest.Registers.Rax);
    }

    [Fact]
    public void TheGuestEntersLongModeItself()
    {
        using var g = new PagedGuest();
        // From 32-bit protected mode with paging off: PAE, CR3, EFER.LME, CR0.PG, then a far jump to 64-bit code.
        g.Guest.Load(0x20000, 64, a =>
        {
            a.mov(al, (byte)'L');
            a.@out(0xE9, al);
            a.hlt();
        });
        g.Guest.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.mov(eax, cr4);
            a.or(eax, 0x20);
            a.mov(cr4, eax);
            a.mov(eax, (uint)PagedGuest.Pml4);
            a.mov(cr3, eax);
            a.mov(ecx, 0xC000_0080);
            a.rdmsr();
            a.or(eax, 0x100);
            a.wrmsr();
            a.mov(eax, cr0);
            a.or(eax, 0x8000_0000);
            a.mov(cr0, eax);
            a.jmp(SegmentedGuest.KernelCode64, 0x20000);
        });
        // Reuse the paged guest's tables but start in 32-bit protected mode without paging.
        g.Guest.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, 0x7000);
        var s = g.Guest.SpecialRegisters;
        s.Efer = 0;
        s.Cr0 = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Et;
        g.Guest.Guest.Vcpu.SetSpecialRegisters(s);
        var exit = g.Guest.Run();
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal("L", g.Guest.Guest.Output.ToString());
        var after = g.Guest.SpecialRegisters;
        Assert.NotEqual(0UL, after.Efer & ControlRegisters.EferLma);
        Assert.True(after.Cs.Long);
    }
}
