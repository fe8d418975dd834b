namespace Vessel.Hypervisor;

/// <summary>A VM: guest memory slots, vCPUs and interrupt lines (as a KVM VM fd).</summary>
public interface IVirtualMachine : IDisposable
{
    /// <summary>The guest-physical address space as registered through <see cref="SetMemoryRegion"/>.</summary>
    GuestMemory Memory { get; }

    /// <summary>Maps <paramref name="region"/> at <paramref name="guestPhysicalAddress"/> in slot
    /// <paramref name="slot"/> (KVM_SET_USER_MEMORY_REGION). The VM does not take ownership.</summary>
    void SetMemoryRegion(int slot, ulong guestPhysicalAddress, GuestMemoryRegion region);

    void RemoveMemoryRegion(int slot);

    /// <summary>Creates vCPU <paramref name="id"/>; id 0 is the bootstrap processor.</summary>
    IVcpu CreateVcpu(int id);

    /// <summary>Drives global system interrupt line <paramref name="gsi"/> (KVM_IRQ_LINE).
    /// Edge-triggered sources raise then lower it.</summary>
    void SetIrqLine(uint gsi, bool level);

    /// <summary>Delivers a message-signalled interrupt (KVM_SIGNAL_MSI).</summary>
    void SignalMsi(ulong address, uint data);
}
