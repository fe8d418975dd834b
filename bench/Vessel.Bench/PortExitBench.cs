using System.Diagnostics;
using Iced.Intel;
using Vessel.Cpu;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Bench;

/// <summary>The cost of a port access on emu, per access: one the backend's own platform bus answers (the PIC's
/// mask register, as a guest polls it) and one that leaves Run as an exit (the POST port), the loop the VMM
/// runs around it without a device behind.</summary>
internal static class PortExitBench
{
    public static int Run(int accesses, int repeats)
    {
        for (int i = 0; i < repeats; i++)
        {
            double platform = Measure(accesses, exits: false);
            double exit = Measure(accesses / 10, exits: true);
            Console.WriteLine($"platform port read {platform:F1} ns, port write exit {exit:F1} ns");
        }
        return 0;
    }

    private static double Measure(int count, bool exits)
    {
        using var hv = new EmuHypervisor();
        using var vm = hv.CreateVirtualMachine();
        using var ram = new GuestMemoryRegion(4 << 20);
        vm.SetMemoryRegion(0, 0, ram);
        using var vcpu = vm.CreateVcpu(0);
        var a = new Assembler(32);
        var loop = a.CreateLabel();
        a.mov(ecx, count);
        a.Label(ref loop);
        if (exits) a.@out((byte)PcLayout.PostCodePort, al); else a.@in(al, (byte)(PcLayout.PicMasterPort + 1));
        a.dec(ecx);
        a.jnz(loop);
        a.hlt();
        vm.Memory.Write(0x100000, GuestCode.Assemble(a, 0x100000));
        vcpu.SetSpecialRegisters(FlatSegments.ProtectedMode32());
        vcpu.SetRegisters(new Registers { Rip = 0x100000, Rflags = 2, Rsp = 0x80000 });
        var sw = Stopwatch.StartNew();
        while (vcpu.Run().Reason == VcpuExitReason.IoOut) { }
        sw.Stop();
        return sw.Elapsed.TotalNanoseconds / count;
    }
}
