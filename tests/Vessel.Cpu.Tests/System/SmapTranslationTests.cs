using Iced.Intel;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.System;

/// <summary>Supervisor accesses to user pages under SMAP while RFLAGS.AC is set are cached in the TLBs (the kernel's
/// copies to and from user space run in bulk), and every such translation goes when AC is cleared: the next access
/// faults as the architecture says.</summary>
public class SmapTranslationTests
{
    private const ulong UserPage = 0x90000, Copied = 8192;
    private const int Cr4SmapBit = 21;

    [Theory]
    [InlineData("clac", true)]
    [InlineData("clac", false)]
    [InlineData("popfq", true)]
    [InlineData("popfq", false)]
    public void AccessAfterAcIsClearedFaultsAfterABulkCopyWithAcSet(string clearBy, bool write)
    {
        using var g = new PagedGuest();
        for (ulong page = UserPage; page < UserPage + Copied; page += 0x1000)
            g.SetPte(page, page | PagedGuest.Present | PagedGuest.Writable | PagedGuest.User);
        VcpuExit exit = g.Run(a =>
        {
            a.mov(rax, cr4);
            a.bts(rax, Cr4SmapBit);
            a.mov(cr4, rax);
            a.stac();
            a.mov(rdi, UserPage);
            a.mov(ecx, (uint)Copied);
            a.mov(al, 0x5A);
            a.rep.stosb();
            a.mov(__byte_ptr[UserPage + 8], 0x11);
            a.movzx(ebx, __byte_ptr[UserPage + 4]);
            if (clearBy == "clac") a.clac();
            else
            {
                a.pushfq();
                a.and(__qword_ptr[rsp], ~(int)Vessel.Hypervisor.RflagsBits.Ac);
                a.popfq();
            }
            a.mov(r12d, 0x600D);
            if (write) a.mov(__byte_ptr[UserPage + 16], 0x22);
            else a.movzx(ebx, __byte_ptr[UserPage + 24]);
            a.hlt();
        });

        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal(0x600DUL, g.Guest.Registers.R12);
        Assert.Equal(14UL, g.Guest.ReadU64(PagedGuest.FaultVector));
        Assert.Equal(write ? UserPage + 16 : UserPage + 24, g.Guest.ReadU64(PagedGuest.FaultAddress));
        Assert.Equal(write ? 3UL : 1UL, g.Guest.ReadU64(PagedGuest.FaultCode)); // present, write or read, supervisor
        var bytes = new byte[Copied];
        g.Guest.Guest.Memory.Read(UserPage, bytes);
        for (int i = 0; i < bytes.Length; i++) Assert.Equal(i == 8 ? 0x11 : 0x5A, bytes[i]);
        Assert.True(g.Guest.Cpu.BulkStrings.Operations > 0, "the REP STOSB under AC ran in bulk");
    }
}
