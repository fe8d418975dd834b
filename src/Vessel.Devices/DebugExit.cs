namespace Vessel.Devices;

/// <summary>QEMU's isa-debug-exit: writing v (any width, any offset) ends the VM with status (v &lt;&lt; 1) | 1,
/// so a guest can never report success (0) by accident. Reads return all ones.</summary>
public sealed class DebugExit(ISystemControl system) : IPortDevice
{
    /// <summary>Four ports wide, as kvm-unit-tests configures it (iosize=4), so outl works.</summary>
    public const int PortCount = 4;

    public uint Read(ushort offset, int size) => PortAccess.AllOnes(size);

    public void Write(ushort offset, int size, uint value)
    {
        if (size is not (1 or 2 or 4))
            return;
        system.RequestExit(unchecked((int)((PortAccess.Truncate(value, size) << 1) | 1)));
    }
}
