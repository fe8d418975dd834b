using Iced.Intel;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;
using static Vessel.Cpu.Tests.System.PageTableGuest;

namespace Vessel.Cpu.Tests.System;

/// <summary>MSRs, CPUID, the TSC, SWAPGS, FSGSBASE and SYSCALL/SYSRET run by 64-bit guests.</summary>
public class MsrAndFastCallTests
{
    private static PageTableGuest RunGuest(Action<Assembler> build, Action<PageTableGuest>? setup = null)
    {
        var g = new PageTableGuest();
        g.IdentityMapLarge(8 << 20, P | W | U);
        setup?.Invoke(g);
        g.Start64(0x1000, 0x1000, build);
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        return g;
    }

    private static void Rdmsr(Assembler a, uint index)
    {
        a.mov(ecx, index);
        a.rdmsr();
        a.shl(rdx, 32);
        a.or(rax, rdx);
    }

    private static void Wrmsr(Assembler a, uint index, ulong value)
    {
        a.mov(ecx, index);
        a.mov(eax, (uint)value);
        a.mov(edx, (uint)(value >> 32));
        a.wrmsr();
    }

    [Fact]
    public void MsrsRoundTripAndRefuseBadValues()
    {
        using var g = RunGuest(a =>
        {
            Wrmsr(a, 0xC000_0082, 0xFFFF_FFFF_8100_0000); // LSTAR
            Rdmsr(a, 0xC000_0082);
            a.mov(r8, rax);
            Wrmsr(a, 0xC000_0100, 0x7000_1234);          // FS_BASE
            Rdmsr(a, 0x277);                              // PAT power-on value
            a.mov(r11, rax);
            a.hlt();
        });
        Registers r = g.Vcpu.GetRegisters();
        Assert.Equal(0xFFFF_FFFF_8100_0000UL, r.R8);
        Assert.Equal(0x0007_0406_0007_0406UL, r.R11);
        Assert.Equal(0x7000_1234UL, g.Vcpu.GetSpecialRegisters().Fs.Base);

        IVcpu v = g.Vcpu;
        Assert.Throws<UnsupportedMsrException>(() => v.GetMsr(0x1234));
        Assert.Throws<UnsupportedMsrException>(() => v.SetMsr(0xC000_0082, 0x0000_8000_0000_0000)); // non-canonical
        Assert.Throws<UnsupportedMsrException>(() => v.SetMsr(0xC000_0080, 1UL << 20));               // EFER reserved bit
        Assert.Throws<UnsupportedMsrException>(() => v.SetMsr(0x277, 0x02));                           // PAT type 2
        Assert.Throws<UnsupportedMsrException>(() => v.SetMsr(0x3A, 0));                               // FEATURE_CONTROL locked
        Assert.Throws<UnsupportedMsrException>(() => v.SetMsr(0xC000_0080, 0));                        // LME off with paging on
        Assert.Equal(1UL, v.GetMsr(0x3A) & 1);
        Assert.Equal(0xFEE0_0900UL, v.GetMsr(0x1B));
        v.SetMsr(0x2FF, 0xC06);
        Assert.Equal(0xC06UL, v.GetMsr(0x2FF));
        v.SetMsr(0x259, 0x0606_0606_0000_0101);
        Assert.Equal(0x0606_0606_0000_0101UL, v.GetMsr(0x259));
    }

    /// <summary>IA32_APIC_BASE refuses the mode changes hardware refuses (SDM 10.12.5), and CPUID.1:EDX.APIC
    /// follows its enable bit.</summary>
    [Fact]
    public void ApicBaseRefusesInvalidModeChangesAndCpuidFollowsTheEnableBit()
    {
        const uint ApicBase = 0x1B;
        const ulong Base = 0xFEE0_0000 | (1 << 8), En = 1 << 11, Extd = 1 << 10;
        using var g = RunGuest(a =>
        {
            Wrmsr(a, ApicBase, Base);                     // disabled
            a.mov(eax, 1);
            a.cpuid();
            a.mov(r8d, edx);
            Wrmsr(a, ApicBase, Base | En);                // xAPIC again
            a.mov(eax, 1);
            a.cpuid();
            a.mov(r9d, edx);
            a.hlt();
        });
        Registers r = g.Vcpu.GetRegisters();
        Assert.Equal(0UL, r.R8 & (1 << 9));
        Assert.Equal(1UL << 9, r.R9 & (1 << 9));

        IVcpu v = g.Vcpu;
        Assert.Throws<UnsupportedMsrException>(() => v.SetMsr(ApicBase, Base | Extd));           // xAPIC -> invalid
        v.SetMsr(ApicBase, Base | En | Extd);                                                     // xAPIC -> x2APIC
        Assert.Throws<UnsupportedMsrException>(() => v.SetMsr(ApicBase, Base | En));             // x2APIC -> xAPIC
        Assert.Throws<UnsupportedMsrException>(() => v.SetMsr(ApicBase, Base | Extd));           // x2APIC -> invalid
        v.SetMsr(ApicBase, Base);                                                                 // x2APIC -> disabled
        Assert.Throws<UnsupportedMsrException>(() => v.SetMsr(ApicBase, Base | En | Extd));      // disabled -> x2APIC
        Assert.Throws<UnsupportedMsrException>(() => v.SetMsr(ApicBase, Base | Extd));           // disabled -> invalid
        v.SetMsr(ApicBase, Base | En);                                                            // disabled -> xAPIC
        Assert.Equal(Base | En, v.GetMsr(ApicBase));
    }

    [Fact]
    public void CpuidReportsVendorApicIdAndTscFrequency()
    {
        using var g = RunGuest(a =>
        {
            a.xor(eax, eax);
            a.cpuid();
            a.mov(r8d, ebx);
            a.mov(r9d, edx);
            a.mov(r10d, ecx);
            a.mov(eax, 0x15);
            a.cpuid();
            a.mov(r11d, ebx);
            a.mov(r12d, ecx);
            a.mov(eax, 1);
            a.cpuid();
            a.mov(r13d, ebx);
            a.mov(r14d, ecx);
            a.hlt();
        });
        Registers r = g.Vcpu.GetRegisters();
        string vendor = string.Concat(new[] { r.R8, r.R9, r.R10 }.Select(x => global::System.Text.Encoding.ASCII.GetString(BitConverter.GetBytes((uint)x))));
        Assert.Equal("GenuineIntel", vendor);
        Assert.Equal(1_000_000_000UL, r.R11 * r.R12);       // crystal × ratio = 1 GHz (denominator 1)
        Assert.Equal(0UL, r.R13 >> 24);                     // APIC ID of vCPU 0
        Assert.NotEqual(0UL, r.R14 & (1 << 21));            // x2APIC
    }

    [Fact]
    public void TscIncreasesAndFollowsIa32TscWrites()
    {
        using var g = RunGuest(a =>
        {
            a.rdtsc();
            a.shl(rdx, 32);
            a.or(rax, rdx);
            a.mov(r8, rax);
            a.mov(ecx, 1000);
            var spin = a.CreateLabel();
            a.Label(ref spin);
            a.loop(spin);
            a.rdtscp();
            a.shl(rdx, 32);
            a.or(rax, rdx);
            a.mov(r9, rax);
            Wrmsr(a, 0x10, 1UL << 44);
            a.rdtsc();
            a.shl(rdx, 32);
            a.or(rax, rdx);
            a.mov(r10, rax);
            a.hlt();
        });
        Registers r = g.Vcpu.GetRegisters();
        Assert.True(r.R9 > r.R8, $"{r.R9} > {r.R8}");
        Assert.True(r.R10 >= 1UL << 44);
    }

    [Fact]
    public void TscAdjustRecordsTscWritesAndMovesTheTsc()
    {
        using var g = RunGuest(a =>
        {
            Rdmsr(a, 0x3B);
            a.mov(r8, rax);                      // starts at 0
            a.rdtsc();
            a.shl(rdx, 32);
            a.or(rax, rdx);
            a.mov(r12, rax);
            a.mov(rdx, Jump);
            a.add(rax, rdx);                     // WRMSR TSC = now + Jump: TSC_ADJUST grows by about Jump
            a.mov(rdx, rax);
            a.shr(rdx, 32);
            a.mov(ecx, 0x10);
            a.wrmsr();
            Rdmsr(a, 0x3B);
            a.mov(r9, rax);
            Wrmsr(a, 0x3B, 0);                   // TSC_ADJUST = 0: the TSC drops back by the same amount
            a.rdtsc();
            a.shl(rdx, 32);
            a.or(rax, rdx);
            a.mov(r10, rax);
            Rdmsr(a, 0x3B);
            a.mov(r11, rax);
            a.hlt();
        });
        Registers r = g.Vcpu.GetRegisters();
        Assert.Equal(0UL, r.R8);
        Assert.InRange((long)r.R9, 1L, Jump); // Jump less the time between the RDTSC and the WRMSR
        Assert.Equal(0UL, r.R11);
        Assert.True(r.R10 >= r.R12 && r.R10 < r.R12 + (ulong)Jump, $"{r.R10:x} after {r.R12:x}");
    }

    /// <summary>How far the test moves the TSC: 1,000 s of the guest's 1 GHz clock, so a starved host thread
    /// between two of the guest's instructions cannot eat it (1 s did, at load average 50).</summary>
    private const long Jump = 1_000_000_000_000;

    [Fact]
    public void SwapgsExchangesGsBaseWithKernelGsBase()
    {
        using var g = RunGuest(a =>
        {
            Wrmsr(a, 0xC000_0101, 0x1111_0000); // GS_BASE
            Wrmsr(a, 0xC000_0102, 0x2222_0000); // KERNEL_GS_BASE
            a.swapgs();
            Rdmsr(a, 0xC000_0101);
            a.mov(r8, rax);
            Rdmsr(a, 0xC000_0102);
            a.mov(r9, rax);
            a.mov(rax, cr4);
            a.or(rax, (int)ControlRegisters.Cr4Fsgsbase);
            a.mov(cr4, rax);
            a.mov(rax, 0x3333_0000);
            a.wrgsbase(rax);
            a.rdgsbase(r10);
            a.hlt();
        });
        Registers r = g.Vcpu.GetRegisters();
        Assert.Equal(0x2222_0000UL, r.R8);
        Assert.Equal(0x1111_0000UL, r.R9);
        Assert.Equal(0x3333_0000UL, r.R10);
    }

    [Fact]
    public void SyscallAndSysretRoundTripThroughUserMode()
    {
        const ulong user = 0x3000, kernelEntry = 0x4000;
        using var g = new PageTableGuest();
        g.IdentityMapLarge(8 << 20, P | W | U);
        byte[] userCode = Core.TinyGuest.Assemble(64, user, a =>
        {
            a.mov(r12, 0xABCD);   // proof that user code ran
            a.mov(r13, cs);
            a.syscall();
            a.hlt();              // not reached: the kernel entry halts
        });
        g.Guest.Load(user, userCode);
        g.Guest.Load(kernelEntry, Core.TinyGuest.Assemble(64, kernelEntry, a =>
        {
            a.mov(r14, cs);
            a.pushfq();
            a.pop(r15);
            a.hlt();
        }));
        g.Start64(0x1000, 0x1000, a =>
        {
            // STAR: kernel CS 0x08 (SS 0x10), user base 0x18 (SS 0x20 | 3, 64-bit CS 0x28 | 3).
            Wrmsr(a, 0xC000_0081, (0x18UL << 48) | (0x08UL << 32));
            Wrmsr(a, 0xC000_0082, kernelEntry);
            Wrmsr(a, 0xC000_0084, 0x200);      // SFMASK clears IF
            a.mov(ecx, 0xC000_0080);
            a.rdmsr();
            a.or(eax, 1);                      // EFER.SCE
            a.wrmsr();
            a.mov(rcx, user);
            a.mov(r11, 0x202);                 // user RFLAGS: IF set
            a.sysretq();
        });
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Registers r = g.Vcpu.GetRegisters();
        Assert.Equal(0xABCDUL, r.R12);
        Assert.Equal(0x2BUL, r.R13);           // user CS = STAR[63:48] + 16, RPL 3
        Assert.Equal(0x08UL, r.R14);           // kernel CS = STAR[47:32]
        Assert.Equal(user + (ulong)userCode.Length - 1, r.Rcx); // the HLT right after the SYSCALL
        Assert.Equal(0x202UL, r.R11 & 0x202);
        Assert.Equal(0UL, r.R15 & 0x200);      // IF masked by SFMASK
        SpecialRegisters s = g.Vcpu.GetSpecialRegisters();
        Assert.Equal(0, s.Cs.Dpl);
        Assert.Equal(0x10, s.Ss.Selector);
    }
}
