using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>The emu backend: a software x86-64 CPU behind the same contract as /dev/kvm.</summary>
public sealed class EmuHypervisor(EmuOptions? options = null) : IHypervisor
{
    public string Name => "emu";

    public EmuOptions Options { get; } = options ?? new EmuOptions();

    public HypervisorCapabilities Capabilities { get; } = new(MaxVcpus: 64, MaxMemorySlots: 32, InKernelIrqChip: true, Msi: true, IoEvents: true);

    public IVirtualMachine CreateVirtualMachine() => new EmuVirtualMachine(this);

    public void Dispose()
    {
    }
}
