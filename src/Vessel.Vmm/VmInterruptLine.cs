using Vessel.Devices;
using Vessel.Hypervisor;

namespace Vessel.Vmm;

/// <summary>A device's IRQ wired to GSI <paramref name="gsi"/> of the VM's interrupt controllers.</summary>
public sealed class VmInterruptLine(IVirtualMachine vm, uint gsi) : IInterruptLine
{
    public uint Gsi => gsi;

    public void Set(bool level) => vm.SetIrqLine(gsi, level);
}
