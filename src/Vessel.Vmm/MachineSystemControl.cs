using Vessel.Devices;

namespace Vessel.Vmm;

/// <summary>Devices' requests to end the VM (i8042 reset, isa-debug-exit). Devices are built before the
/// machine, so the machine is attached once it exists; nothing runs guest code before then.</summary>
internal sealed class MachineSystemControl : ISystemControl
{
    private Machine? _machine;

    public void Attach(Machine machine) => _machine = machine;

    /// <summary>True once the machine has an exit recorded, i.e. is stopping or stopped.</summary>
    public bool StopRequested => _machine?.Exit is not null;

    public void RequestReset() => Machine.RequestStop(MachineExit.Reset("i8042 reset line"));

    public void RequestExit(int status) => Machine.RequestStop(MachineExit.GuestExit(status));

    private Machine Machine => _machine ?? throw new InvalidOperationException("a device asked to end a machine that is not built yet");
}
