using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Platform;

public class TaskPriorityTests
{
    [Fact]
    public void Mov_cr8_is_the_apic_task_priority()
    {
        using var g = new PagedGuest();
        // Linear 3 GiB onto physical 3 GiB with one 1 GiB page, so the xAPIC page is reachable.
        g.Guest.WriteU64(PagedGuest.Pdpt + 3 * 8, 0xC000_0000 | PagedGuest.Present | PagedGuest.Writable | PagedGuest.Large);
        VcpuExit exit = g.Run(a =>
        {
            a.mov(eax, 0xFEE0_0080);
            a.mov(__dword_ptr[rax], 0x50);   // TPR through MMIO
            a.mov(rbx, cr8);
            a.mov(ecx, 9);
            a.mov(cr8, rcx);
            a.mov(edx, __dword_ptr[rax]);
            a.hlt();
        });
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Registers r = g.Guest.Guest.Vcpu.GetRegisters();
        Assert.Equal((5UL, 0x90UL), (r.Rbx, r.Rdx));
    }
}
