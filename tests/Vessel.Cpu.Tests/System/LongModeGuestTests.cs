using Iced.Intel;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;
using static Vessel.Cpu.Tests.System.MmuPagedGuest;

namespace Vessel.Cpu.Tests.System;

/// <summary>64-bit guests running with paging: mappings, INVLPG, CR3 reloads and guest-driven long-mode entry.</summary>
public class LongModeGuestTests
{
    [Fact]
    public void CodeAndDataRunAtHighLinearAddresses()
    {
        using var g = new MmuPagedGuest();
        g.IdentityMap(0x10_0000);
        const ulong code = 0xFFFF_8000_0010_0000, data = 0xFFFF_8000_0020_0000;
        g.Map(code, 0x20_0000, P);
        ulong dataPte = g.Map(data, 0x30_0000, P | W | NX);
        g.Start64(code, 0x20_0000, a =>
        {
            a.mov(rax, data);
            a.mov(__qword_ptr[rax + 8], 0x1234_5678);
            a.mov(rbx, __qword_ptr[rax + 8]);
            a.hlt();
        });
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0x1234_5678UL, g.Memory.ReadUInt64(0x30_0008));
        Assert.Equal(0x1234_5678UL, g.Vcpu.GetRegisters().Rbx);
        Assert.Equal(Accessed | Dirty, g.ReadEntry(dataPte) & (Accessed | Dirty));
    }

    [Fact]
    public void InvlpgAndCr3ReloadDropStaleTranslations()
    {
        using var g = new MmuPagedGuest();
        g.IdentityMapLarge(8 << 20);
        const ulong window = 0x40_0000_0000;
        ulong pte = g.Map(window, 0x30_0000, P | W);
        g.Memory.WriteUInt64(0x30_0000, 111);
        g.Memory.WriteUInt64(0x31_0000, 222);
        g.Memory.WriteUInt64(0x32_0000, 333);
        g.Start64(0x1000, 0x1000, a =>
        {
            a.mov(rsi, window);
            a.mov(rdi, pte);
            a.mov(r8, __qword_ptr[rsi]);                 // 111, now cached
            a.mov(rax, 0x31_0000 | P | W);
            a.mov(__qword_ptr[rdi], rax);                // remap the window
            a.invlpg(__byte_ptr[rsi]);
            a.mov(r9, __qword_ptr[rsi]);                 // 222 after INVLPG
            a.mov(rax, 0x32_0000 | P | W);
            a.mov(__qword_ptr[rdi], rax);
            a.mov(rax, cr3);
            a.mov(cr3, rax);
            a.mov(r10, __qword_ptr[rsi]);                // 333 after the CR3 reload
            a.hlt();
        });
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Registers r = g.Vcpu.GetRegisters();
        Assert.Equal(111UL, r.R8);
        Assert.Equal(222UL, r.R9);
        Assert.Equal(333UL, r.R10);
    }

    [Fact]
    public void GuestEntersLongModeItself()
    {
        using var g = new MmuPagedGuest();
        g.IdentityMap(0x10_0000);
        g.Map(0x7FFF_0000_0000, 0x30_0000, P | W);
        // 32-bit protected mode, paging off: CR4.PAE, EFER.LME by WRMSR, CR3, then CR0.PG.
        g.Guest.Load(0x1000, Core.TinyGuest.Assemble(32, 0x1000, a =>
        {
            a.mov(eax, (uint)ControlRegisters.Cr4Pae);
            a.mov(cr4, eax);
            a.mov(eax, (uint)g.Root);
            a.mov(cr3, eax);
            a.mov(ecx, 0xC000_0080);
            a.rdmsr();
            a.or(eax, (int)ControlRegisters.EferLme);
            a.wrmsr();
            a.mov(eax, cr0);
            a.or(eax, unchecked((int)0x8000_0000));
            a.mov(cr0, eax);
            a.hlt();
        }));
        var s = SpecialRegisters.RealMode();
        s.Cs = Segment.Flat(8, code: true);
        s.Ds = s.Es = s.Ss = s.Fs = s.Gs = Segment.Flat(0x10, code: false);
        s.Cr0 = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Et;
        g.Vcpu.SetSpecialRegisters(s);
        g.Vcpu.SetRegisters(new Registers { Rip = 0x1000, Rflags = 2, Rsp = 0x8000 });
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        SpecialRegisters after = g.Vcpu.GetSpecialRegisters();
        Assert.NotEqual(0UL, after.Efer & ControlRegisters.EferLma);

        // The far jump into a 64-bit code segment is segment work: set CS.L through the contract instead.
        g.Guest.Load(0x2000, Core.TinyGuest.Assemble(64, 0x2000, a =>
        {
            a.mov(rax, 0x7FFF_0000_0010);
            a.mov(rbx, 0x1122_3344_5566_7788);
            a.mov(__qword_ptr[rax], rbx);
            a.hlt();
        }));
        after.Cs = Segment.Flat(8, code: true, longMode: true);
        g.Vcpu.SetSpecialRegisters(after);
        g.Vcpu.SetRegisters(new Registers { Rip = 0x2000, Rflags = 2, Rsp = 0x8000 });
        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal(0x1122_3344_5566_7788UL, g.Memory.ReadUInt64(0x30_0010));
    }
}
