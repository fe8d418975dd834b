using Vessel.Cpu.Tests.Segmentation;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Hostile;

/// <summary>A guest that executes, or walks page tables, where there is no RAM gets what hardware gives: the bytes
/// there read as all ones, so code is 0xFF 0xFF (#UD) and a page-table entry is present with reserved bits set
/// (#PF with RSVD); with no handler to take that, the VM ends as a triple fault ends it. Never an internal error.</summary>
[Trait("Category", "Hostile")]
public class OutsideRamTests
{
    private const ulong OutsideRam = 0x4000_0000; // the guests have 2 MiB of RAM
    private const ulong UdHandler = 0x20000;

    [Fact]
    public void A_jump_outside_RAM_raises_invalid_opcode_at_the_target()
    {
        using var g = new SegmentedGuest(longMode: true);
        g.SetGate64(Vector.UD, SegmentedGuest.KernelCode64, UdHandler);
        Recorders.Handler64(g, UdHandler, Vector.UD, hasErrorCode: false);
        g.Load(SegmentedGuest.CodeBase, 64, a =>
        {
            a.mov(rax, OutsideRam + 0x123);
            a.jmp(rax);
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode64, SegmentedGuest.KernelData, SegmentedGuest.KernelStack);

        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        Assert.Equal((ulong)Vector.UD, g.ReadU64(Recorders.Vector));
        Assert.Equal(OutsideRam + 0x123, g.ReadU64(Recorders.SavedIp));
    }

    [Fact]
    public void An_instruction_running_from_RAM_into_a_page_outside_it_raises_invalid_opcode()
    {
        using var g = new SegmentedGuest(longMode: false);
        g.SetGate32(Vector.UD, SegmentedGuest.KernelCode32, UdHandler);
        Recorders.Handler32(g, UdHandler, Vector.UD, hasErrorCode: false);
        const ulong LastRamPage = (2 << 20) - 4096;
        g.Memory.Write(LastRamPage + 4094, [0xB8, 0x01]); // mov eax, imm32: its last three bytes lie past RAM
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.mov(eax, (uint)(LastRamPage + 4094));
            a.jmp(eax);
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, SegmentedGuest.KernelStack);

        Assert.Equal(VcpuExitReason.Halt, g.Run().Reason);
        // B8 01 FF FF FF is a whole MOV EAX, 0xFFFFFF01; the next instruction starts outside RAM: FF FF, #UD.
        Assert.Equal((ulong)Vector.UD, g.ReadU64(Recorders.Vector));
        Assert.Equal(LastRamPage + 4096 + 3, g.ReadU64(Recorders.SavedIp) & 0xFFFF_FFFF);
    }

    [Fact]
    public void A_jump_outside_RAM_with_no_handler_ends_the_VM_as_a_triple_fault()
    {
        using var g = new SegmentedGuest(longMode: true); // every IDT gate not present
        g.Load(SegmentedGuest.CodeBase, 64, a =>
        {
            a.mov(rax, OutsideRam);
            a.jmp(rax);
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode64, SegmentedGuest.KernelData, SegmentedGuest.KernelStack);

        VcpuExit exit = g.Run();
        Assert.Equal(VcpuExitReason.Shutdown, exit.Reason);
    }

    [Fact]
    public void A_page_table_entry_pointing_outside_RAM_faults_with_reserved_bits()
    {
        using var g = new PagedGuest();
        const ulong Linear = 2UL << 30; // PDPT entry 2
        g.Guest.WriteU64(PagedGuest.Pdpt + 16, OutsideRam | PagedGuest.Present | PagedGuest.Writable);

        VcpuExit exit = g.Run(a =>
        {
            a.mov(rax, Linear + 0x40);
            a.mov(rbx, __qword_ptr[rax]);
            a.hlt();
        });

        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Assert.Equal(14UL, g.Guest.ReadU64(PagedGuest.FaultVector));
        Assert.Equal((ulong)(X86Cpu.PfPresent | X86Cpu.PfReserved), g.Guest.ReadU64(PagedGuest.FaultCode));
        Assert.Equal(Linear + 0x40, g.Guest.ReadU64(PagedGuest.FaultAddress));
    }

    [Fact]
    public void CR3_outside_RAM_ends_the_VM_as_a_triple_fault()
    {
        using var g = new PagedGuest();
        g.Guest.Load(SegmentedGuest.CodeBase, 64, a => a.hlt());
        g.Guest.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode64, SegmentedGuest.KernelData, 0x7000);
        var s = g.Guest.SpecialRegisters;
        s.Cr0 |= ControlRegisters.Cr0Pg;
        s.Cr3 = OutsideRam;
        s.Cr4 |= ControlRegisters.Cr4Pae;
        g.Guest.Guest.Vcpu.SetSpecialRegisters(s);

        VcpuExit exit = g.Guest.Run();
        Assert.Equal(VcpuExitReason.Shutdown, exit.Reason);
    }

    [Fact]
    public void Legacy_paging_through_a_directory_outside_RAM_reads_all_ones()
    {
        // 32-bit paging without PSE: the all-ones directory entry points at a table at 0xFFFFF000 (outside RAM
        // too), whose all-ones entry maps the page at 0xFFFFF000: a read there goes to the VMM as MMIO.
        using var g = new SegmentedGuest(longMode: false);
        g.Load(SegmentedGuest.CodeBase, 32, a =>
        {
            a.mov(eax, (uint)OutsideRam);
            a.mov(cr3, eax);
            a.mov(eax, cr0);
            a.or(eax, 0x8000_0000);
            a.mov(cr0, eax);                          // paging on: the next fetch walks the outside directory
            a.hlt();
        });
        g.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode32, SegmentedGuest.KernelData, SegmentedGuest.KernelStack);

        VcpuExit exit = g.Guest.Run(maxExits: 10);
        // The fetch after MOV CR0 maps to guest-physical 0xFFFFFxxx: all ones again, #UD; its delivery reads the
        // IDT through the same mapping, outside RAM: all ones again, a bad gate, and the VM ends in a triple fault.
        Assert.Equal(VcpuExitReason.Shutdown, exit.Reason);
        Assert.Contains("triple fault", exit.Message);
    }
}
