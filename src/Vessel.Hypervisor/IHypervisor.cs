namespace Vessel.Hypervisor;

/// <summary>An execution backend (kvm or emu), modelled on the /dev/kvm system fd.</summary>
public interface IHypervisor : IDisposable
{
    /// <summary>"kvm" or "emu".</summary>
    string Name { get; }

    HypervisorCapabilities Capabilities { get; }

    IVirtualMachine CreateVirtualMachine();
}

/// <summary>What a backend can do; the VMM checks these instead of asking which backend it has.
/// <see cref="IoEvents"/>: <see cref="IVirtualMachine.AddIoEvent"/> and <see cref="IVirtualMachine.AddIrqEvent"/> work.</summary>
public sealed record HypervisorCapabilities(
    int MaxVcpus,
    int MaxMemorySlots,
    bool InKernelIrqChip,
    bool Msi,
    bool IoEvents = false);
