using Vessel.Hypervisor;
using static Vessel.Cpu.Tests.System.PageTableGuest;

namespace Vessel.Cpu.Tests.System;

/// <summary>The page walk on its own: translations, accessed/dirty bits and #PF error codes with CR2.</summary>
public class TranslateTests
{
    private const uint PfPresent = 1, PfWrite = 2, PfUser = 4, PfReserved = 8, PfFetch = 16;

    private static X86Cpu CpuIn4Level(PageTableGuest g, Action<X86Cpu>? adjust = null)
    {
        var cpu = new X86Cpu(((EmuVirtualMachine)g.Guest.Vm).Machine, 7);
        cpu.SetSpecialRegisters(LongModeRegisters(g.Root));
        adjust?.Invoke(cpu);
        return cpu;
    }

    private static uint PageFaultCode(X86Cpu cpu, ulong linear, AccessKind kind, bool user)
    {
        var f = Assert.Throws<CpuFault>(() => cpu.Translate(linear, kind, user));
        Assert.Equal(Vector.PF, f.FaultVector);
        Assert.Equal(linear, cpu.Cr2);
        return f.ErrorCode;
    }

    [Fact]
    public void FourKilobytePageTranslatesAndGetsAccessedThenDirty()
    {
        using var g = new PageTableGuest();
        ulong pte = g.Map(0x7F_1234_5000, 0x30_0000, P | W);
        var cpu = CpuIn4Level(g);
        Assert.Equal(0x30_0ABCUL, cpu.Translate(0x7F_1234_5ABC, AccessKind.Read, false));
        Assert.Equal(Accessed, g.ReadEntry(pte) & (Accessed | Dirty));
        Assert.NotEqual(0UL, g.ReadEntry(g.Root + ((0x7F_1234_5000UL >> 39) & 0x1FF) * 8) & Accessed); // PML4E used by the walk
        cpu.Translate(0x7F_1234_5000, AccessKind.Write, false);
        Assert.Equal(Accessed | Dirty, g.ReadEntry(pte) & (Accessed | Dirty));
    }

    [Fact]
    public void LargePagesTranslate()
    {
        using var g = new PageTableGuest();
        ulong pde = g.Map(0x4020_0000, 0x60_0000, P | W, 0x20_0000);
        g.Map(0x80_0000_0000, 0x1_4000_0000, P, 0x4000_0000);
        var cpu = CpuIn4Level(g);
        Assert.Equal(0x71_2345UL, cpu.Translate(0x4031_2345, AccessKind.Write, false));
        Assert.Equal(Accessed | Dirty, g.ReadEntry(pde) & (Accessed | Dirty));
        Assert.Equal(0x1_4ABC_DEF0UL, cpu.Translate(0x80_0ABC_DEF0, AccessKind.Read, false));
    }

    [Fact]
    public void NotPresentGivesErrorCodeWithAccessKind()
    {
        using var g = new PageTableGuest();
        g.Map(0x1000, 0x1000, P | W | U);
        var cpu = CpuIn4Level(g);
        Assert.Equal(0u, PageFaultCode(cpu, 0x5000, AccessKind.Read, false));
        Assert.Equal(PfWrite, PageFaultCode(cpu, 0x6008, AccessKind.Write, false));
        Assert.Equal(PfUser | PfWrite, PageFaultCode(cpu, 0x7000, AccessKind.Write, true));
        Assert.Equal(PfFetch, PageFaultCode(cpu, 0x8000, AccessKind.Execute, false)); // NXE is on
        Assert.Equal(0u, PageFaultCode(cpu, 0x1234_5678_9000, AccessKind.Read, false));
    }

    [Fact]
    public void UserSupervisorAndWriteProtection()
    {
        using var g = new PageTableGuest();
        g.Map(0x1000, 0x1000, P | W);      // supervisor, writable
        g.Map(0x2000, 0x2000, P | U);      // user, read-only
        var cpu = CpuIn4Level(g);
        Assert.Equal(PfPresent | PfUser, PageFaultCode(cpu, 0x1000, AccessKind.Read, true));
        Assert.Equal(PfPresent | PfUser | PfWrite, PageFaultCode(cpu, 0x2000, AccessKind.Write, true));
        Assert.Equal(0x2000UL, cpu.Translate(0x2000, AccessKind.Read, true));
        // CR0.WP set: the supervisor cannot write a read-only page either.
        Assert.Equal(PfPresent | PfWrite, PageFaultCode(cpu, 0x2000, AccessKind.Write, false));
        cpu.Cr0 &= ~ControlRegisters.Cr0Wp;
        Assert.Equal(0x2010UL, cpu.Translate(0x2010, AccessKind.Write, false));
    }

    /// <summary>An access the final entry forbids leaves that entry's accessed bit clear, as hardware does
    /// (kvm-unit-tests' access test checks it); the levels above it are marked, having been used.</summary>
    [Fact]
    public void ProtectionFaultLeavesTheFinalEntryUnaccessed()
    {
        using var g = new PageTableGuest();
        ulong pte = g.Map(0x1000, 0x1000, P | W);                    // supervisor 4 KiB page
        ulong pde = g.Map(0x4000_0000, 0x40_0000, P, 0x20_0000);      // supervisor, read-only 2 MiB page
        var cpu = CpuIn4Level(g);
        PageFaultCode(cpu, 0x1000, AccessKind.Read, true);
        Assert.Equal(0UL, g.ReadEntry(pte) & (Accessed | Dirty));
        PageFaultCode(cpu, 0x4000_0000, AccessKind.Write, false);
        Assert.Equal(0UL, g.ReadEntry(pde) & (Accessed | Dirty));
        cpu.Translate(0x4000_0000, AccessKind.Read, false);
        Assert.Equal(Accessed, g.ReadEntry(pde) & (Accessed | Dirty));
    }

    [Fact]
    public void NoExecuteAndReservedBits()
    {
        using var g = new PageTableGuest();
        g.Map(0x3000, 0x3000, P | W | NX);
        ulong pte = g.Map(0x4000, 0x4000, P | W);
        var cpu = CpuIn4Level(g);
        Assert.Equal(0x3000UL, cpu.Translate(0x3000, AccessKind.Read, false));
        Assert.Equal(PfPresent | PfFetch, PageFaultCode(cpu, 0x3000, AccessKind.Execute, false));
        cpu.Efer &= ~ControlRegisters.EferNxe; // bit 63 becomes reserved
        Assert.Equal(PfPresent | PfReserved, PageFaultCode(cpu, 0x3000, AccessKind.Read, false));
        g.WriteEntry(pte, g.ReadEntry(pte) | (1UL << 45)); // above MAXPHYADDR (40)
        Assert.Equal(PfPresent | PfReserved | PfWrite, PageFaultCode(cpu, 0x4000, AccessKind.Write, false));
        ulong pde = g.Map(0x60_0000, 0x60_0000, P | W, 0x20_0000);
        g.WriteEntry(pde, g.ReadEntry(pde) | 0x2000); // bit 13 of a 2 MiB entry
        Assert.Equal(PfPresent | PfReserved, PageFaultCode(cpu, 0x60_0000, AccessKind.Read, false));
    }

    [Fact]
    public void SmepAndSmap()
    {
        using var g = new PageTableGuest();
        g.Map(0x5000, 0x5000, P | W | U);
        var cpu = CpuIn4Level(g, c => c.Cr4 |= ControlRegisters.Cr4Smep | ControlRegisters.Cr4Smap);
        Assert.Equal(PfPresent | PfFetch, PageFaultCode(cpu, 0x5000, AccessKind.Execute, false));
        Assert.Equal(PfPresent, PageFaultCode(cpu, 0x5000, AccessKind.Read, false));
        cpu.SetRflags(RflagsBits.Reserved1 | RflagsBits.Ac);
        Assert.Equal(0x5000UL, cpu.Translate(0x5000, AccessKind.Read, false));
        Assert.Equal(0x5000UL, cpu.Translate(0x5000, AccessKind.Execute, true));
    }

    [Fact]
    public void ThirtyTwoBitPagingWithFourMegabytePages()
    {
        using var g = new PageTableGuest();
        ulong pd = g.Root, pt = g.AllocateTable();
        g.Memory.WriteUInt32(pd + (0x0040_0000 >> 22) * 4, (uint)(pt | P | W));
        g.Memory.WriteUInt32(pt + 5 * 4, 0x0020_0000 | (uint)(P | W));
        g.Memory.WriteUInt32(pd + (0xC000_0000 >> 22) * 4, 0x0080_0000 | (uint)(P | PS) | (3u << 13)); // PSE-36: phys bits 33:32
        var cpu = new X86Cpu(((EmuVirtualMachine)g.Guest.Vm).Machine, 7);
        var s = SpecialRegisters.RealMode();
        s.Cs = Segment.Flat(8, true);
        s.Cr0 = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Pg | ControlRegisters.Cr0Wp;
        s.Cr3 = pd;
        s.Cr4 = ControlRegisters.Cr4Pse;
        cpu.SetSpecialRegisters(s);
        Assert.Equal(0x20_0123UL, cpu.Translate(0x0040_5123, AccessKind.Write, false));
        Assert.Equal(Accessed | Dirty, g.Memory.ReadUInt64(pt + 5 * 4) & 0xFFFF_FFFF & (Accessed | Dirty));
        Assert.Equal(0x3_0089_ABCDUL, cpu.Translate(0xC009_ABCD, AccessKind.Read, false));
        Assert.Equal(PfPresent | PfWrite, PageFaultCode(cpu, 0xC000_0000, AccessKind.Write, false));
        Assert.Equal(0u, PageFaultCode(cpu, 0x0080_0000, AccessKind.Read, false));
    }

    [Fact]
    public void PaePagingUsesFourPdptes()
    {
        using var g = new PageTableGuest();
        ulong pdpt = g.AllocateTable(), pd = g.AllocateTable(), pt = g.AllocateTable();
        g.WriteEntry(pdpt + 3 * 8, pd | P);
        g.WriteEntry(pd + 1 * 8, pt | P | W);
        g.WriteEntry(pt + 2 * 8, 0x9_8765_4000 | P | W | NX);
        g.WriteEntry(pd + 2 * 8, 0x00A0_0000 | P | PS);
        var cpu = new X86Cpu(((EmuVirtualMachine)g.Guest.Vm).Machine, 7);
        var s = SpecialRegisters.RealMode();
        s.Cs = Segment.Flat(8, true);
        s.Cr0 = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Pg;
        s.Cr3 = pdpt;
        s.Cr4 = ControlRegisters.Cr4Pae;
        s.Efer = ControlRegisters.EferNxe;
        cpu.SetSpecialRegisters(s);
        Assert.Equal(0x9_8765_4321UL, cpu.Translate(0xC020_2321, AccessKind.Read, false));
        Assert.Equal(0xA1_2345UL, cpu.Translate(0xC041_2345, AccessKind.Read, false));
        Assert.Equal(PfPresent | PfFetch, PageFaultCode(cpu, 0xC020_2000, AccessKind.Execute, false));
        g.WriteEntry(pdpt, pd | P | 2); // bit 1 of a PDPTE is reserved
        Assert.Equal(PfPresent | PfReserved, PageFaultCode(cpu, 0x0000_1000, AccessKind.Read, false));
    }
}
