namespace Vessel.Devices.Bus;

/// <summary>One lock per device object, shared by the buses of a machine, so a device that owns ranges on
/// both the port and the MMIO bus (pc-testdev) still sees one call at a time. An <see cref="IConcurrentDevice"/>
/// gets none.</summary>
public sealed class DeviceLocks
{
    private readonly Dictionary<object, Lock> _locks = new(ReferenceEqualityComparer.Instance);

    public Lock? For(object device)
    {
        if (device is IConcurrentDevice) return null;
        lock (_locks)
        {
            if (!_locks.TryGetValue(device, out var gate))
                _locks.Add(device, gate = new Lock());
            return gate;
        }
    }
}
