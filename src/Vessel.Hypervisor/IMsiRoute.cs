namespace Vessel.Hypervisor;

/// <summary>One MSI-X vector's path into the VM. The VMM points it at the message the guest programmed
/// (<see cref="Update"/>, when the entry is unmasked or rewritten) and raises it from any thread
/// (<see cref="Fire"/>); the caller serializes the two (the MSI-X table's lock). On kvm it is a GSI routed to the message (KVM_SET_GSI_ROUTING) with an irqfd, so a
/// raise is one eventfd write and KVM injects without a call into Vessel; elsewhere a raise sends the message
/// (<see cref="IVirtualMachine.SignalMsi"/>). Masking and pending bits stay the VMM's (the MSI-X table).</summary>
public interface IMsiRoute : IDisposable
{
    /// <summary>The vector's message is now (<paramref name="address"/>, <paramref name="data"/>).</summary>
    void Update(ulong address, uint data);

    /// <summary>Raises the vector with the message of the last <see cref="Update"/>.</summary>
    void Fire();
}

/// <summary>The route of a backend without MSI routing: each raise is a <see cref="IVirtualMachine.SignalMsi"/>.</summary>
public sealed class SignalledMsiRoute(IVirtualMachine vm) : IMsiRoute
{
    private ulong _address;
    private uint _data;

    public void Update(ulong address, uint data)
    {
        _address = address;
        _data = data;
    }

    public void Fire() => vm.SignalMsi(_address, _data);

    public void Dispose() { }
}
