using Microsoft.Extensions.Logging;
using Vessel.Devices;
using Vessel.Hypervisor;
using Vessel.Devices.Bus;
using Vessel.Vmm.Pci;

namespace Vessel.Vmm;

/// <summary>Assembles a <see cref="Machine"/> on a backend: guest RAM and its memory slots, the PC devices
/// on the buses, the kernel in memory, and the vCPUs (vCPU 0 in the kernel's entry state). If any step fails,
/// everything already created is released before the exception leaves <see cref="Build"/>.</summary>
public sealed class MachineBuilder(IHypervisor hypervisor, MachineConfig config)
{
    private readonly List<Action<PcDeviceContext>> _extraDevices = [];

    /// <summary>Runs <paramref name="install"/> after the standard devices are on the buses, to add more
    /// (it may use the IRQ lines, the system control and the COM1 receiver hook of the context).</summary>
    public MachineBuilder AddDevices(Action<PcDeviceContext> install)
    {
        _extraDevices.Add(install);
        return this;
    }

    /// <summary>Places an extra device on the port bus, next to the standard ones.</summary>
    public MachineBuilder AddPortDevice(ushort basePort, int length, IPortDevice device)
    {
        _extraDevices.Add(context => context.Ports.Register(basePort, length, device));
        return this;
    }

    public MachineBuilder AddMmioDevice(ulong baseAddress, ulong length, IMmioDevice device)
    {
        _extraDevices.Add(context => context.Mmio.Register(baseAddress, length, device));
        return this;
    }

    public Machine Build()
    {
        Validate();
        var logger = config.LoggerFactory.CreateLogger("Vessel.Vmm");
        var ram = new List<GuestMemoryRegion>();
        var vcpus = new List<IVcpu>();
        PcDeviceContext? devices = null;
        IVirtualMachine vm = hypervisor.CreateVirtualMachine();
        try
        {
            foreach (var bank in GuestRamLayout.ForPc(config.MemoryBytes))
            {
                var region = new GuestMemoryRegion(bank.Size);
                ram.Add(region);
                vm.SetMemoryRegion(bank.Slot, bank.GuestAddress, region);
            }

            var locks = new DeviceLocks();
            var ports = new PortIoBus(locks, config.LoggerFactory.CreateLogger("Vessel.Vmm.PortIoBus"));
            var mmio = new MmioBus(locks, config.LoggerFactory.CreateLogger("Vessel.Vmm.MmioBus"));
            var systemControl = new MachineSystemControl();
            devices = new PcDeviceContext(config, vm, ports, mmio, locks, systemControl);
            if (config.StandardDevices)
            {
                PcDevices.Install(devices);
                PciDevices.Install(devices);
            }
            foreach (var install in _extraDevices) install(devices);

            VcpuEntryState? entryState = config.Kernel is { } kernel ? KernelBoot.Load(kernel, vm.Memory, config) : null;

            for (int id = 0; id < config.VcpuCount; id++)
                vcpus.Add(vm.CreateVcpu(id));
            if (entryState is { } entry)
            {
                vcpus[0].SetSpecialRegisters(entry.SpecialRegisters);
                vcpus[0].SetRegisters(entry.Registers);
            }

            var machine = new Machine(vm, ram, vcpus, ports, mmio, devices.OwnedDevices, devices.SerialInput, logger)
            {
                VirtioConsoleInput = devices.VirtioConsoleInput,
                Keyboard = devices.Keyboard,
                Disks = devices.Disks,
                VirtioDevices = devices.VirtioDevices,
            };
            systemControl.Attach(machine);
            return machine;
        }
        catch
        {
            foreach (var vcpu in vcpus) vcpu.Dispose();
            if (devices is not null) foreach (var device in devices.OwnedDevices) device.Dispose();
            vm.Dispose();
            foreach (var region in ram) region.Dispose();
            throw;
        }
    }

    private void Validate()
    {
        if (config.MemoryBytes < MachineConfig.MinimumMemoryBytes)
            throw new ArgumentOutOfRangeException(nameof(config), $"guest memory must be at least 1 MiB, not {config.MemoryBytes} bytes");
        int max = hypervisor.Capabilities.MaxVcpus;
        if (config.VcpuCount < 1 || config.VcpuCount > max)
            throw new ArgumentOutOfRangeException(nameof(config), $"the {hypervisor.Name} backend supports 1 to {max} vCPUs, not {config.VcpuCount}");
    }
}
