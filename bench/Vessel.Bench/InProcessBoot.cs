using System.Diagnostics;
using System.Text;
using Vessel.Boot;
using Vessel.Cpu;
using Vessel.Hypervisor;

namespace Vessel.Bench;

/// <summary>Boots a kernel image on one emu vCPU in this process, with just enough of a machine for the
/// benchmark guests (COM1 output, isa-debug-exit), and reports guest instructions per second.</summary>
internal static class InProcessBoot
{
    public sealed record Result(string Output, int ExitStatus, long Instructions, TimeSpan Elapsed, string? Error);

    public static Result Run(byte[] image, ulong ramBytes = 64 << 20, EmuTier tier = EmuTier.Automatic)
    {
        using var hv = new EmuHypervisor(new EmuOptions { Tier = tier });
        using var vm = hv.CreateVirtualMachine();
        using var ram = new GuestMemoryRegion(ramBytes);
        vm.SetMemoryRegion(0, 0, ram);
        using var vcpu = (EmuVcpu)vm.CreateVcpu(0);
        BootSetup setup = KernelLoader.Load(image, vm.Memory, MemoryMap.ForPc(ramBytes), new BootOptions());
        vcpu.SetSpecialRegisters(setup.SpecialRegisters);
        vcpu.SetRegisters(setup.Registers);

        var output = new StringBuilder();
        var sw = Stopwatch.StartNew();
        while (true)
        {
            VcpuExit exit = vcpu.Run();
            switch (exit.Reason)
            {
                case VcpuExitReason.IoOut when exit.Port == 0x3f8:
                    output.Append((char)(byte)exit.Data);
                    break;
                case VcpuExitReason.IoOut when exit.Port == 0xf4:
                    return new Result(output.ToString(), (int)((exit.Data << 1) | 1), vcpu.InstructionsRetired, sw.Elapsed, null);
                case VcpuExitReason.IoOut:
                case VcpuExitReason.MmioWrite:
                    break;
                case VcpuExitReason.IoIn:
                case VcpuExitReason.MmioRead:
                    vcpu.CompleteRead(ulong.MaxValue);
                    break;
                default:
                    return new Result(output.ToString(), -1, vcpu.InstructionsRetired, sw.Elapsed, exit.ToString());
            }
        }
    }
}
