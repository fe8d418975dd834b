using Vessel.Virtio.Hvc;

namespace Vessel.Vmm.Pci;

/// <summary>The host-input side of the machine's virtio console.</summary>
public sealed class VirtioConsoleInput(VirtioConsole console)
{
    /// <summary>Takes what fits in the device's input buffer; returns how many bytes.</summary>
    public int Receive(ReadOnlySpan<byte> bytes) => console.Receive(bytes);

    public bool WaitForSpace(TimeSpan timeout) => console.WaitForInputSpace(timeout);
}
