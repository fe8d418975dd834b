using Vessel.Cpu.Tests.Segmentation;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.System;

public class PagingTests
{
    private const ulong Data = 0x5000;

    [Fact]
    public void FourKiBTwoMiBAndOneGiBPagesReachTheSameByte()
    {
        using var g = new PagedGuest();
        g.Guest.WriteU64(Data, 0x1122_3344_5566_7788);
        var exit = g.Run(a =>
        {
            a.mov(rax, __qword_ptr[Data]);
            a.mov(rbx, PagedGuest.Large2M + Data);
            a.mov(rbx, __qword_ptr[rbx]);
            a.mov(rcx, PagedGuest.Huge1G + Data);
            a.mov(rcx, __qword_ptr[rcx]);
            a.hlt();
        });
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        var r = g.Guest.Registers;
        Assert.Equal(0x1122_3344_5566_7788UL, r.Rax);
        Assert.Equal(r.Rax, r.Rbx);
        Assert.Equal(r.Rax, r.Rcx);
    }

    [Fact]
    public void AccessedAndDirtyBitsAreWrittenToTheTables()
    {
        using var g = new PagedGuest();
        g.Run(a =>
        {
            a.mov(rax, __qword_ptr[Data]);
            a.mov(__qword_ptr[Data + 0x1000], rax);
            a.hlt();
        });
        Assert.Equal(PagedGuest.Accessed, g.Pte(Data) & (PagedGuest.Accessed | PagedGuest.Dirty));
        Assert.Equal(PagedGuest.Accessed | PagedGuest.Dirty, g.Pte(Data + 0x1000) & (PagedGuest.Accessed | PagedGuest.Dirty));
        Assert.NotEqual(0UL, g.Guest.ReadU64(PagedGuest.Pml4) & PagedGuest.Accessed);
    }

    [Theory]
    [InlineData(false, 0x2UL)]  // not present, write
    [InlineData(true, 0x3UL)]   // present, read-only, write with CR0.WP
    public void WriteFaultReportsErrorCodeAndCr2(bool present, ulong errorCode)
    {
        using var g = new PagedGuest();
        g.SetPte(Data, present ? Data | PagedGuest.Present : 0);
        var exit = g.Run(a =>
        {
            a.mov(__qword_ptr[Data + 0x18], rax);
            a.hlt();
        });
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal(14UL, g.Guest.ReadU64(PagedGuest.FaultVector));
        Assert.Equal(errorCode, g.Guest.ReadU64(PagedGuest.FaultCode));
        Assert.Equal(Data + 0x18, g.Guest.ReadU64(PagedGuest.FaultAddress));
        Assert.Equal(SegmentedGuest.CodeBase, g.Guest.ReadU64(PagedGuest.FaultRip));
    }

    [Fact]
    public void WithoutCr0WpTheKernelWritesReadOnlyPages()
    {
        using var g = new PagedGuest();
        g.SetPte(Data, Data | PagedGuest.Present);
        var exit = g.Run(a =>
        {
            a.mov(__qword_ptr[Data], 0x77);
            a.hlt();
        }, cr0Extra: 0);
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal(0x77UL, g.Guest.ReadU64(Data));
        Assert.Equal(0UL, g.Guest.ReadU64(PagedGuest.FaultVector));
    }

    [Fact]
    public void FetchFromANoExecutePageFaultsWithTheFetchBit()
    {
        using var g = new PagedGuest();
        g.SetPte(Data, Data | PagedGuest.Present | PagedGuest.Writable | PagedGuest.NoExecute);
        g.Guest.Load(Data, 64, a => a.hlt());
        g.Run(a =>
        {
            a.mov(rax, Data);
            a.jmp(rax);
        });
        Assert.Equal(0x11UL, g.Guest.ReadU64(PagedGuest.FaultCode));
        Assert.Equal(Data, g.Guest.ReadU64(PagedGuest.FaultAddress));
    }

    [Fact]
    public void ReservedBitsFaultWithTheReservedBit()
    {
        using var g = new PagedGuest();
        g.SetPte(Data, Data | PagedGuest.Present | (1UL << 50));
        g.Run(a =>
        {
            a.mov(rax, __qword_ptr[Data]);
            a.hlt();
        });
        Assert.Equal(0x9UL, g.Guest.ReadU64(PagedGuest.FaultCode));
    }

    [Fact]
    public void InvlpgMakesANewMappingVisible()
    {
        using var g = new PagedGuest();
        g.Guest.WriteU64(Data, 1);
        g.Guest.WriteU64(Data + 0x1000, 2);
        ulong pte = PagedGuest.Pt + (Data >> 12) * 8;
        g.Run(a =>
        {
            a.mov(rax, __qword_ptr[Data]);                       // caches the translation
            a.mov(__qword_ptr[pte], (int)((Data + 0x1000) | PagedGuest.Present | PagedGuest.Writable));
            a.invlpg(__[Data]);
            a.mov(rbx, __qword_ptr[Data]);                       // the new page
            a.hlt();
        });
        Assert.Equal(1UL, g.Guest.Registers.Rax);
        Assert.Equal(2UL, g.Guest.Registers.Rbx);
    }

    [Fact]
    public void UserAccessToASupervisorPageFaults()
    {
        using var g = new PagedGuest();
        // Make the code page and stack user-accessible, then drop to ring 3 with IRETQ.
        g.SetPte(SegmentedGuest.CodeBase, SegmentedGuest.CodeBase | PagedGuest.Present | PagedGuest.Writable | PagedGuest.User);
        g.SetPte(0x9000 - 0x1000, (0x9000 - 0x1000) | PagedGuest.Present | PagedGuest.Writable | PagedGuest.User);
        g.Guest.Load(SegmentedGuest.CodeBase + 0x100, 64, a =>
        {
            a.mov(rax, __qword_ptr[Data]); // supervisor page: #PF with U/S set
            a.hlt();
        });
        g.Run(a =>
        {
            a.push(SegmentedGuest.UserData);
            a.push(0x9000);
            a.push(0x2);
            a.push(SegmentedGuest.UserCode64);
            a.push((int)(SegmentedGuest.CodeBase + 0x100));
            a.iretq();
        });
        Assert.Equal(0x5UL, g.Guest.ReadU64(PagedGuest.FaultCode));
        Assert.Equal(Data, g.Guest.ReadU64(PagedGuest.FaultAddress));
    }
}
