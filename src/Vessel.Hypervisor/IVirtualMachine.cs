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

    /// <summary>Makes a guest write that matches <paramref name="ioEvent"/> signal <paramref name="notifier"/>
    /// and let the vCPU go on: the write never reaches the VMM as an exit (KVM_IOEVENTFD). Dispose the result to
    /// remove it; the notifier stays the caller's. Backends with <see cref="HypervisorCapabilities.IoEvents"/>.</summary>
    IDisposable AddIoEvent(IoEvent ioEvent, EventNotifier notifier) =>
        throw new NotSupportedException("this backend has no I/O events");

    /// <summary>Makes each signal of <paramref name="notifier"/> raise GSI <paramref name="gsi"/> as an edge, from
    /// any thread and with no call into the backend per raise (KVM_IRQFD). Dispose the result to remove it.
    /// Backends with <see cref="HypervisorCapabilities.IoEvents"/>.</summary>
    IDisposable AddIrqEvent(uint gsi, EventNotifier notifier) =>
        throw new NotSupportedException("this backend has no interrupt events");

    /// <summary>A path for one MSI-X vector (see <see cref="IMsiRoute"/>); dispose it with the vector's device.
    /// The default sends each raise through <see cref="SignalMsi"/>.</summary>
    IMsiRoute CreateMsiRoute() => new SignalledMsiRoute(this);
}
