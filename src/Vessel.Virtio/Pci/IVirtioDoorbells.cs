namespace Vessel.Virtio.Pci;

/// <summary>How a transport asks the machine to turn a guest write at an address into a call without a vCPU
/// exit (ioeventfd on kvm, the emu backend's doorbell table). The callback runs on a machine I/O thread.</summary>
public interface IVirtioDoorbells
{
    /// <summary>Makes a <paramref name="size"/>-byte write at guest-physical <paramref name="address"/> call
    /// <paramref name="ring"/>; dispose the result to remove it. Null when the backend cannot: the write then
    /// arrives as an MMIO write.</summary>
    IDisposable? Add(ulong address, int size, Action ring);
}
