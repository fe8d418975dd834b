using Vessel.Hypervisor;
using static Vessel.Cpu.Tests.System.PagedGuest;

namespace Vessel.Cpu.Tests.System;

/// <summary>MOV to CR0/CR3/CR4/CR8 and the debug registers: reserved bits, mode rules and TLB effects.</summary>
public class ControlRegisterTests
{
    private static void AssertGp(Action write)
    {
        var f = Assert.Throws<CpuFault>(write);
        Assert.Equal(Vector.GP, f.FaultVector);
        Assert.Equal(0u, f.ErrorCode);
    }

    private static X86Cpu NewCpu(PagedGuest g, in SpecialRegisters s)
    {
        var cpu = new X86Cpu((EmuVirtualMachine)g.Guest.Vm, 5);
        cpu.SetSpecialRegisters(s);
        return cpu;
    }

    [Fact]
    public void ReservedAndUnsupportedBitsFault()
    {
        using var g = new PagedGuest();
        var cpu = NewCpu(g, LongModeRegisters(g.Root));
        AssertGp(() => cpu.WriteCr4(cpu.Cr4 | ControlRegisters.Cr4Pcide));    // PCID is not advertised
        AssertGp(() => cpu.WriteCr4(cpu.Cr4 | ControlRegisters.Cr4Vme));
        AssertGp(() => cpu.WriteCr4(cpu.Cr4 & ~ControlRegisters.Cr4Pae));     // PAE cannot go in long mode
        AssertGp(() => cpu.WriteCr0(cpu.Cr0 | (1UL << 40)));
        AssertGp(() => cpu.WriteCr0(cpu.Cr0 & ~ControlRegisters.Cr0Pg));      // leaving paging from 64-bit code
        AssertGp(() => cpu.WriteCr3(1UL << 45));                               // above MAXPHYADDR
        AssertGp(() => cpu.WriteCr8(0x10));
        cpu.WriteCr8(0xF);
        Assert.Equal(0xFUL, cpu.Cr8);
    }

    [Fact]
    public void PagingWithoutProtectionFaultsAndLongModeNeedsPae()
    {
        using var g = new PagedGuest();
        var s = SpecialRegisters.RealMode();
        var cpu = NewCpu(g, s);
        AssertGp(() => cpu.WriteCr0(ControlRegisters.Cr0Pg | ControlRegisters.Cr0Et));
        s.Cs = Segment.Flat(8, true);
        s.Cr0 = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Et;
        s.Efer = ControlRegisters.EferLme;
        s.Cr3 = g.Root;
        cpu = NewCpu(g, s);
        AssertGp(() => cpu.WriteCr0(cpu.Cr0 | ControlRegisters.Cr0Pg));       // LME without CR4.PAE
        cpu.WriteCr4(ControlRegisters.Cr4Pae);
        cpu.WriteCr0(cpu.Cr0 | ControlRegisters.Cr0Pg);
        Assert.NotEqual(0UL, cpu.Efer & ControlRegisters.EferLma);
        Assert.Equal(32, cpu.Bitness);                                         // compatibility mode until CS.L
        cpu.WriteCr0(cpu.Cr0 & ~ControlRegisters.Cr0Pg);
        Assert.Equal(0UL, cpu.Efer & ControlRegisters.EferLma);
    }

    [Fact]
    public void CpuidAndMsrViewsAgreeOnApicBaseBsp()
    {
        using var g = new PagedGuest();
        var ap = new X86Cpu((EmuVirtualMachine)g.Guest.Vm, 2);
        Assert.True(ap.TryReadMsr(0x1B, out ulong apBase));
        Assert.Equal(0UL, apBase & 0x100);
        Assert.True(ap.TryWriteMsr(0x1B, 0xFEE0_0C00));                       // x2APIC mode
        Assert.True(ap.TryReadMsr(0x1B, out apBase));
        Assert.Equal(0xFEE0_0C00UL, apBase);
        Assert.False(ap.TryWriteMsr(0x1B, 0xFEE0_0C01));                      // reserved bit 0
    }
}
