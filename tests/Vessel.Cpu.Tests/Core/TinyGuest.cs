using System.Text;
using Iced.Intel;
using Vessel.Cpu;
using Vessel.Hypervisor;

namespace Vessel.Cpu.Tests.Core;

/// <summary>Runs code assembled with Iced on the emu backend through the backend contract, collecting
/// bytes the guest writes to port 0xE9 until it halts with interrupts off.</summary>
internal sealed class TinyGuest : IDisposable
{
    public const ushort DebugPort = 0xE9;
    private readonly EmuHypervisor _hypervisor;
    private readonly GuestMemoryRegion _ram;
    public IVirtualMachine Vm { get; }
    public IVcpu Vcpu { get; }
    public StringBuilder Output { get; } = new();
    public List<VcpuExit> Exits { get; } = new();

    public TinyGuest(ulong ramBytes = 2 << 20, EmuOptions? options = null)
    {
        _hypervisor = new EmuHypervisor(options ?? new EmuOptions());
        _ram = new GuestMemoryRegion(ramBytes);
        Vm = _hypervisor.CreateVirtualMachine();
        Vm.SetMemoryRegion(0, 0, _ram);
        Vcpu = Vm.CreateVcpu(0);
    }

    public GuestMemory Memory => Vm.Memory;

    /// <summary>The emulated CPU behind the contract, for internals the contract does not show.</summary>
    public X86Cpu Cpu =>
        (X86Cpu)typeof(EmuVcpu).GetField("_cpu", global::System.Reflection.BindingFlags.NonPublic | global::System.Reflection.BindingFlags.Instance)!.GetValue(Vcpu)!;

    public static byte[] Assemble(int bitness, ulong address, Action<Assembler> build) =>
        GuestCode.Assemble(bitness, address, build);

    public void Load(ulong address, byte[] code) => Memory.Write(address, code);

    /// <summary>Real mode at 0000:<paramref name="ip"/>.</summary>
    public void StartRealMode(ushort ip)
    {
        Vcpu.SetSpecialRegisters(SpecialRegisters.RealMode());
        Vcpu.SetRegisters(new Registers { Rip = ip, Rflags = 2, Rsp = 0x7000 });
    }

    /// <summary>Runs until HLT with interrupts off (or another terminal exit); port reads return <paramref name="portValue"/>.</summary>
    public VcpuExit Run(int maxExits = 100_000, Func<ushort, ulong>? portValue = null)
    {
        for (int i = 0; i < maxExits; i++)
        {
            VcpuExit exit = Vcpu.Run();
            switch (exit.Reason)
            {
                case VcpuExitReason.IoOut when exit.Port == DebugPort:
                    Output.Append((char)(byte)exit.Data);
                    break;
                case VcpuExitReason.IoOut:
                    Exits.Add(exit);
                    break;
                case VcpuExitReason.IoIn:
                    Exits.Add(exit);
                    Vcpu.CompleteRead(portValue?.Invoke(exit.Port) ?? ulong.MaxValue);
                    break;
                case VcpuExitReason.MmioRead:
                    Exits.Add(exit);
                    Vcpu.CompleteRead(0);
                    break;
                case VcpuExitReason.MmioWrite:
                    Exits.Add(exit);
                    break;
                default:
                    return exit;
            }
        }
        throw new TimeoutException("guest did not halt");
    }

    public void Dispose()
    {
        Vm.Dispose();
        _ram.Dispose();
        _hypervisor.Dispose();
    }
}
