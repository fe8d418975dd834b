using System.Diagnostics;
using Iced.Intel;
using Vessel.Cpu;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Bench;

/// <summary>What a network packet's events cost a 64-bit guest on emu, per event, each in a loop of its own on the
/// native tier: a virtio doorbell (a 16-bit MMIO write to a registered I/O event: it leaves translated code, ends the
/// run and signals an eventfd), an MMIO write no one claims (an exit the VMM loop answers), a self-IPI taken at a HLT
/// (the LAPIC's ICR and EOI writes, the delivery through the IDT and the IRETQ), and an instruction translated code
/// hands back (CPUID); the loop alone is measured too and subtracted.</summary>
internal static class EventPathBench
{
    private const ulong Pml4 = 0x1000, Pdpt = 0x2000, Pd = 0x3000, Gdt = 0x6000, Idt = 0x7000;
    private const ulong Code = 0x100000, Handler = 0x110000, Stack = 0x80000, Counter = 0x90000;
    private const ulong Doorbell = 0xC000_0000, Unclaimed = 0xC000_1000;
    private const int Vector = 0x40;

    private enum Loop { Empty, Doorbell, UnclaimedMmio, SelfIpi, HandBack }

    public static int Run(int count, int repeats)
    {
        for (int i = 0; i < repeats; i++)
        {
            double empty = Measure(Loop.Empty, count * 10);
            double doorbell = Measure(Loop.Doorbell, count) - empty;
            double exit = Measure(Loop.UnclaimedMmio, count) - empty;
            double ipi = Measure(Loop.SelfIpi, count) - empty;
            double handBack = Measure(Loop.HandBack, count * 10) - empty;
            Console.WriteLine($"per event, ns: doorbell {doorbell:F0}, unclaimed MMIO exit {exit:F0}, self-IPI at HLT " +
                              $"{ipi:F0}, hand-back (CPUID) {handBack:F0}; the loop alone {empty:F1}");
        }
        return 0;
    }

    private static double Measure(Loop kind, int count)
    {
        using var hv = new EmuHypervisor();
        using var vm = hv.CreateVirtualMachine();
        using var ram = new GuestMemoryRegion(4 << 20);
        vm.SetMemoryRegion(0, 0, ram);
        using var vcpu = vm.CreateVcpu(0);
        using var notifier = new EventNotifier();
        using var doorbell = vm.AddIoEvent(IoEvent.Mmio(Doorbell, 2), notifier);
        BuildTables(vm.Memory);

        var a = new Assembler(64);
        var loop = a.CreateLabel();
        a.mov(ecx, count);
        a.mov(rsi, Doorbell);
        a.mov(rdi, Unclaimed);
        a.mov(rbx, PcLayout.LocalApicBase);
        if (kind == Loop.SelfIpi) a.mov(__dword_ptr[rbx + 0xF0], 0x1FF); // APIC software-enabled, spurious 0xFF
        a.Label(ref loop);
        switch (kind)
        {
            case Loop.Doorbell: a.mov(__word_ptr[rsi], ax); break;
            case Loop.UnclaimedMmio: a.mov(__dword_ptr[rdi], eax); break;
            case Loop.SelfIpi:
                a.mov(__dword_ptr[rbx + 0x300], Vector | 0x4_0000); // fixed, to self
                a.hlt();
                break;
            case Loop.HandBack:
                a.push(rcx);
                a.xor(eax, eax);
                a.cpuid();
                a.pop(rcx);
                break;
        }
        a.dec(ecx);
        a.jnz(loop);
        a.mov(eax, 0xDEAD);
        a.mov(__dword_ptr[rdi], eax); // the end: an exit the loop below recognises
        vm.Memory.Write(Code, GuestCode.Assemble(a, Code));

        var h = new Assembler(64);
        h.inc(__qword_ptr[Counter]);
        h.mov(__dword_ptr[rbx + 0xB0], 0); // EOI
        h.iretq();
        vm.Memory.Write(Handler, GuestCode.Assemble(h, Handler));

        vcpu.SetSpecialRegisters(LongMode());
        vcpu.SetRegisters(new Registers { Rip = Code, Rflags = 0x202, Rsp = Stack });
        var sw = Stopwatch.StartNew();
        while (true)
        {
            VcpuExit exit = vcpu.Run();
            if (exit.Reason == VcpuExitReason.MmioWrite && exit.Address == Unclaimed)
            {
                if (exit.Data == 0xDEAD) break;
                continue;
            }
            throw new InvalidOperationException($"{kind}: unexpected exit {exit}");
        }
        sw.Stop();
        if (kind == Loop.SelfIpi && vm.Memory.ReadUInt64(Counter) != (ulong)count)
            throw new InvalidOperationException($"{vm.Memory.ReadUInt64(Counter)} interrupts taken, not {count}");
        if (kind == Loop.Doorbell && notifier.TryTake() != (ulong)count)
            throw new InvalidOperationException("the doorbell did not ring once per write");
        return sw.Elapsed.TotalNanoseconds / count;
    }

    /// <summary>4 MiB identity-mapped with 2 MiB pages, [3 GiB, 4 GiB) with one 1 GiB page (the doorbells and the
    /// local APIC); a GDT with 64-bit code at 0x08 and data at 0x10; an IDT whose gate <see cref="Vector"/> leads to
    /// <see cref="Handler"/>.</summary>
    private static void BuildTables(GuestMemory memory)
    {
        const ulong present = 1, writable = 2, large = 0x80;
        memory.WriteUInt64(Pml4, Pdpt | present | writable);
        memory.WriteUInt64(Pdpt, Pd | present | writable);
        memory.WriteUInt64(Pdpt + 3 * 8, 0xC000_0000 | present | writable | large);
        memory.WriteUInt64(Pd, 0 | present | writable | large);
        memory.WriteUInt64(Pd + 8, 0x20_0000 | present | writable | large);
        memory.WriteUInt64(Gdt + 8, 0x00AF_9A00_0000_FFFF);
        memory.WriteUInt64(Gdt + 16, 0x00CF_9200_0000_FFFF);
        ulong gate = Idt + Vector * 16;
        memory.WriteUInt64(gate, (Handler & 0xFFFF) | (0x08UL << 16) | (0x8EUL << 40) | ((Handler >> 16 & 0xFFFF) << 48));
        memory.WriteUInt64(gate + 8, Handler >> 32);
    }

    private static SpecialRegisters LongMode()
    {
        var s = SpecialRegisters.RealMode();
        s.Cs = Segment.Flat(0x08, code: true, longMode: true);
        s.Ds = s.Es = s.Ss = s.Fs = s.Gs = Segment.Flat(0x10, code: false);
        s.Gdt = new DescriptorTable { Base = Gdt, Limit = 0x17 };
        s.Idt = new DescriptorTable { Base = Idt, Limit = 0xFFF };
        s.Cr0 = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Pg | ControlRegisters.Cr0Et | ControlRegisters.Cr0Wp;
        s.Cr4 = ControlRegisters.Cr4Pae;
        s.Cr3 = Pml4;
        s.Efer = ControlRegisters.EferLme | ControlRegisters.EferLma | ControlRegisters.EferNxe;
        return s;
    }
}
