using Vessel.Cpu.Tests.Segmentation;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.System;

/// <summary>A long-mode guest with 4-level paging: the first 2 MiB identity-mapped with 4 KiB pages (so a test can
/// change one page's entry), linear 1 GiB mapped by one 2 MiB page onto physical 0, and linear 512 GiB by a 1 GiB
/// page onto physical 0. A #PF handler records the error code and CR2 and halts.</summary>
internal sealed class PagedGuest : IDisposable
{
    public const ulong Pml4 = 0x40000, Pdpt = 0x41000, Pd = 0x42000, Pt = 0x43000, Pdpt2 = 0x44000;
    public const ulong Large2M = 0x4000_0000, Huge1G = 0x80_0000_0000;
    public const ulong FaultHandler = 0x30000, FaultVector = 0x600, FaultCode = 0x608, FaultAddress = 0x610, FaultRip = 0x618;
    public const ulong Present = 1, Writable = 2, User = 4, Accessed = 0x20, Dirty = 0x40, Large = 0x80;
    public const ulong NoExecute = 1UL << 63;

    public SegmentedGuest Guest { get; }

    public PagedGuest(EmuOptions? options = null)
    {
        Guest = new SegmentedGuest(longMode: true, options);
        Guest.WriteU64(Pml4, Pdpt | Present | Writable | User);
        Guest.WriteU64(Pml4 + 8, Pdpt2 | Present | Writable | User);
        Guest.WriteU64(Pdpt, Pd | Present | Writable | User);
        Guest.WriteU64(Pd, Pt | Present | Writable | User);
        for (ulong i = 0; i < 512; i++) SetPte(i * 4096, i * 4096 | Present | Writable);
        // Linear 1 GiB: PDPT entry 1 -> a PD whose entry 0 is a 2 MiB page at physical 0.
        Guest.WriteU64(Pdpt + 8, (Pd + 0x800) | Present | Writable);
        Guest.WriteU64(Pd + 0x800, 0 | Present | Writable | Large);
        // Linear 512 GiB: PML4 entry 1 -> PDPT2 whose entry 0 is a 1 GiB page at physical 0.
        Guest.WriteU64(Pdpt2, 0 | Present | Writable | Large);

        Guest.SetGate64(14, SegmentedGuest.KernelCode64, FaultHandler);
        Guest.Load(FaultHandler, 64, a =>
        {
            a.mov(__qword_ptr[FaultVector], 14);
            a.pop(rax);
            a.mov(__qword_ptr[FaultCode], rax);
            a.mov(rax, cr2);
            a.mov(__qword_ptr[FaultAddress], rax);
            a.mov(rax, __qword_ptr[rsp]);
            a.mov(__qword_ptr[FaultRip], rax);
            a.hlt();
        });
    }

    public void SetPte(ulong linear, ulong entry) => Guest.WriteU64(Pt + (linear >> 12) * 8, entry);
    public ulong Pte(ulong linear) => Guest.ReadU64(Pt + (linear >> 12) * 8);

    /// <summary>Runs 64-bit code at <see cref="SegmentedGuest.CodeBase"/> in ring 0 with paging on.</summary>
    /// <summary>Port reads return <paramref name="portValue"/>'s answer, which may also change the vCPU's internals
    /// while the guest waits at the IN.</summary>
    public VcpuExit Run(Action<Iced.Intel.Assembler> code, ulong cr0Extra = ControlRegisters.Cr0Wp, ulong efer = ControlRegisters.EferNxe,
        Func<ushort, ulong>? portValue = null)
    {
        Guest.Load(SegmentedGuest.CodeBase, 64, code);
        Guest.Start(SegmentedGuest.CodeBase, SegmentedGuest.KernelCode64, SegmentedGuest.KernelData, 0x7000);
        var s = Guest.SpecialRegisters;
        s.Cr0 |= ControlRegisters.Cr0Pg | cr0Extra;
        s.Cr3 = Pml4;
        s.Cr4 |= ControlRegisters.Cr4Pae;
        s.Efer |= efer;
        Guest.Guest.Vcpu.SetSpecialRegisters(s);
        return Guest.Guest.Run(maxExits: 1000, portValue);
    }

    public void Dispose() => Guest.Dispose();
}
