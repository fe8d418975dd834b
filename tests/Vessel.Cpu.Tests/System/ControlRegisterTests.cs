using Vessel.Hypervisor;
using static Vessel.Cpu.Tests.System.PageTableGuest;

namespace Vessel.Cpu.Tests.System;

/// <summary>IA32_APIC_BASE as seen by an application processor.</summary>
public class ControlRegisterTests
{
    [Fact]
    public void ApicBaseKeepsTheBspFlagOffOnApplicationProcessors()
    {
        using var g = new PageTableGuest();
        var ap = new X86Cpu(((EmuVirtualMachine)g.Guest.Vm).Machine, 2);
        Assert.True(ap.TryReadMsr(0x1B, out ulong apBase));
        Assert.Equal(0UL, apBase & 0x100);
        Assert.True(ap.TryWriteMsr(0x1B, 0xFEE0_0C00));                       // x2APIC mode
        Assert.True(ap.TryReadMsr(0x1B, out apBase));
        Assert.Equal(0xFEE0_0C00UL, apBase);
        Assert.False(ap.TryWriteMsr(0x1B, 0xFEE0_0C01));                      // reserved bit 0
    }
}
