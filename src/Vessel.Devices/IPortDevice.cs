namespace Vessel.Devices;

/// <summary>A device on the port-I/O bus. It sees offsets inside its own range, never absolute ports.
/// Size is 1, 2 or 4. Calls for one device are serialised by the bus, unless it is an
/// <see cref="IConcurrentDevice"/>.</summary>
public interface IPortDevice
{
    uint Read(ushort offset, int size);
    void Write(ushort offset, int size, uint value);
}
