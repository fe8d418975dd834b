using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

// Not "Vessel.Cpu.Tests.Mmu": a namespace of that name would hide the Mmu class from every test under Vessel.Cpu.Tests.
namespace Vessel.Cpu.Tests.MemoryAccess;

/// <summary>GuestMemoryAccess's page-crossing paths, through guest code: a straddling access is split by physical
/// page, and a fault on its second page leaves the first untouched.</summary>
public class GuestMemoryAccessTests
{
    // Clear of the tables, the stacks (0x7000 and below, 0x9000, 0xA000) and the code (0x10000).
    private const ulong Data = 0xC000, Elsewhere = 0xF000;

    [Fact]
    public void AStraddlingReadTakesEachHalfFromItsOwnPhysicalPage()
    {
        using var g = new PagedGuest();
        // The page after Data maps to a physical page that is not the next one.
        g.SetPte(Data + 0x1000, Elsewhere | PagedGuest.Present | PagedGuest.Writable);
        g.Guest.WriteU64(Data + 0xFF8, 0x4433_2211_0000_0000);
        g.Guest.WriteU64(Elsewhere, 0x0000_0000_8877_6655);
        g.Guest.WriteU64(Data + 0x1000, 0xDEAD_BEEF_DEAD_BEEF); // what a contiguous read would wrongly see
        var exit = g.Run(a =>
        {
            a.mov(rax, __qword_ptr[Data + 0xFFC]);
            a.mov(rbx, 0x1122_3344_5566_7788);
            a.mov(__qword_ptr[Data + 0xFFE], rbx);
            a.hlt();
        });
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal(0x8877_6655_4433_2211UL, g.Guest.Registers.Rax);
        Assert.Equal(0x7788_0000_0000_0000UL, g.Guest.ReadU64(Data + 0xFF8) & 0xFFFF_0000_0000_0000);
        Assert.Equal(0x0000_1122_3344_5566UL, g.Guest.ReadU64(Elsewhere) & 0x0000_FFFF_FFFF_FFFF);
        Assert.Equal(0xDEAD_BEEF_DEAD_BEEFUL, g.Guest.ReadU64(Data + 0x1000));
    }

    [Fact]
    public void AStraddlingWriteFaultingOnItsSecondPageWritesNothing()
    {
        using var g = new PagedGuest();
        g.SetPte(Data + 0x1000, 0);
        g.Guest.WriteU64(Data + 0xFF8, 0x0102_0304_0506_0708);
        var exit = g.Run(a =>
        {
            a.mov(rax, ulong.MaxValue);
            a.mov(__qword_ptr[Data + 0xFFC], rax);
            a.hlt();
        });
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal(14UL, g.Guest.ReadU64(PagedGuest.FaultVector));
        Assert.Equal(0x2UL, g.Guest.ReadU64(PagedGuest.FaultCode)); // not present, write
        Assert.Equal(Data + 0x1000, g.Guest.ReadU64(PagedGuest.FaultAddress));
        Assert.Equal(0x0102_0304_0506_0708UL, g.Guest.ReadU64(Data + 0xFF8));
    }
}
