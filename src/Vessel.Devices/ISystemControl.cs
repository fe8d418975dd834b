namespace Vessel.Devices;

/// <summary>What a device may ask of the machine as a whole: the i8042 reset line, isa-debug-exit.</summary>
public interface ISystemControl
{
    /// <summary>The guest asked for a reset (e.g. 0xFE to port 0x64); Vessel ends the VM with status 0.</summary>
    void RequestReset();

    /// <summary>End the VM; the VMM process exits with <paramref name="status"/>.</summary>
    void RequestExit(int status);
}
