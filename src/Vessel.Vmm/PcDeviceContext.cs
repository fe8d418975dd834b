using Microsoft.Extensions.Logging;
using Vessel.Devices;
using Vessel.Hypervisor;
using Vessel.Devices.Bus;

namespace Vessel.Vmm;

/// <summary>What installing devices needs from the machine being built, and what it hands back
/// (the COM1 receiver, devices the machine must dispose).</summary>
public sealed class PcDeviceContext
{
    internal PcDeviceContext(MachineConfig config, IVirtualMachine vm, PortIoBus ports, MmioBus mmio,
        DeviceLocks deviceLocks, ISystemControl systemControl)
    {
        Config = config;
        VirtualMachine = vm;
        Ports = ports;
        Mmio = mmio;
        DeviceLocks = deviceLocks;
        SystemControl = systemControl;
    }

    public MachineConfig Config { get; }
    public IVirtualMachine VirtualMachine { get; }
    public PortIoBus Ports { get; }
    public MmioBus Mmio { get; }
    public DeviceLocks DeviceLocks { get; }
    public ISystemControl SystemControl { get; }
    public ILoggerFactory LoggerFactory => Config.LoggerFactory;

    public IInterruptLine IrqLine(uint gsi) => new VmInterruptLine(VirtualMachine, gsi);

    /// <summary>Feeds console input to COM1; calls are serialised with the vCPUs' accesses to the UART.</summary>
    public SerialInput? SerialInput { get; set; }

    /// <summary>The virtio console's input side, when the machine has one.</summary>
    public Pci.VirtioConsoleInput? VirtioConsoleInput { get; set; }

    /// <summary>The i8042, for keys the VMM types (SendCtrlAltDel).</summary>
    public I8042? Keyboard { get; set; }

    /// <summary>The virtio-blk devices, in --disk order (the API swaps their images).</summary>
    public List<Virtio.Block.VirtioBlock> Disks { get; } = [];

    /// <summary>Every virtio device with queues, to drain and hold while the machine is paused.</summary>
    public List<Virtio.Devices.QueuedVirtioDevice> VirtioDevices { get; } = [];

    public List<IDisposable> OwnedDevices { get; } = [];
}
