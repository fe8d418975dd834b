using Microsoft.Extensions.Logging;
using Vessel.Boot;
using Vessel.Devices.Pci;
using Vessel.Virtio.Net;
using Vessel.Virtio.Pci;
using Vessel.Virtio.Vsock;

namespace Vessel.Vmm.Pci;

/// <summary>A virtio-net function per `--net`, after the disks, then the virtio-vsock function of `--vsock`. Each net
/// device opens its backend (passt or TAP) first, so a backend that cannot be opened fails the build with its one
/// line and nothing half-made.</summary>
internal static class NetFunctions
{
    public static void Attach(PciBus bus, PcDeviceContext context, List<IDisposable> functions, MsiSender msi,
        MachineDoorbells doorbells, ILogger logger)
    {
        var vm = context.VirtualMachine;
        var networks = context.Config.Networks;
        for (int index = 0; index < networks.Count; index++)
        {
            var options = networks[index];
            int slot = bus.NextFreeSlot;
            if (slot < 0) throw new InvalidOperationException("the PCI bus has no free slot for another network device");
            var backend = options.OpenBackend(context.LoggerFactory.CreateLogger("Vessel.Net"));
            VirtioNet device;
            try
            {
                device = new VirtioNet(backend, options.Mac ?? MacAddress.Default(index));
            }
            catch
            {
                backend.Dispose();
                throw;
            }
            var function = new VirtioPciFunction(device, vm.Memory,
                context.IrqLine((uint)PciInterruptRouting.GsiFor(slot, 0)), msi.Send, doorbells, logger,
                $"virtio-net {options.Describe()} {device.Mac} at 00:{slot:x2}.0");
            functions.Add(function);
            bus.Attach(slot, function);
        }
        if (context.Config.Vsock is { } vsock)
        {
            int slot = bus.NextFreeSlot;
            if (slot < 0) throw new InvalidOperationException("the PCI bus has no free slot for the vsock device");
            var device = new VirtioVsock(vsock);
            var function = new VirtioPciFunction(device, vm.Memory,
                context.IrqLine((uint)PciInterruptRouting.GsiFor(slot, 0)), msi.Send, doorbells, logger,
                $"virtio-vsock cid {vsock.GuestCid} at {vsock.UdsPath}, 00:{slot:x2}.0");
            functions.Add(function);
            bus.Attach(slot, function);
        }
    }
}
