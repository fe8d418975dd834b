namespace Vessel.Devices;

/// <summary>A device on the MMIO bus. It sees offsets inside its own range. Size is 1, 2, 4 or 8.
/// Calls for one device are serialised by the bus, unless it is an <see cref="IConcurrentDevice"/>.</summary>
public interface IMmioDevice
{
    ulong Read(ulong offset, int size);
    void Write(ulong offset, int size, ulong value);
}
