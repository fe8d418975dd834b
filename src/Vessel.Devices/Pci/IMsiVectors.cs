namespace Vessel.Devices.Pci;

/// <summary>Where an MSI-X table's vectors go. <see cref="Route"/> comes when a vector's entry is unmasked or its
/// message rewritten while unmasked (the VMM points the vector's interrupt path at the message then, so a
/// raise need not carry it); <see cref="Fire"/> raises it, with the message again for paths that send it.
/// Calls for one table come serialized.</summary>
public interface IMsiVectors
{
    void Route(int vector, ulong address, uint data);

    void Fire(int vector, ulong address, uint data);
}

/// <summary>Vectors that send each raise as a message and need no routing.</summary>
public sealed class MsiMessageSender(Action<ulong, uint> send) : IMsiVectors
{
    public void Route(int vector, ulong address, uint data) { }

    public void Fire(int vector, ulong address, uint data) => send(address, data);
}
