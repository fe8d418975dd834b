using Microsoft.Extensions.Logging;
using Vessel.Boot;
using Vessel.Devices.Pci;
using Vessel.Hypervisor;
using Vessel.Virtio;
using Vessel.Virtio.Block;
using Vessel.Virtio.Entropy;
using Vessel.Virtio.Hvc;
using Vessel.Virtio.Pci;

namespace Vessel.Vmm.Pci;

/// <summary>PCI bus 0 of the PC machine: configuration mechanism #1 at 0xcf8, the host bridge at 00:00.0, the
/// BAR window in the 32-bit MMIO hole below the IOAPIC, and a virtio-pci function per configured disk, then
/// virtio-rng and virtio-console when asked for. Each
/// function's INTA is wired as <see cref="PciInterruptRouting"/> and the MP table say; MSI-X vectors are backend
/// MSI routes (on kvm a GSI and an irqfd each); queue doorbells are backend doorbells where the backend has them.</summary>
internal static class PciDevices
{
    public static void Install(PcDeviceContext context)
    {
        var bus = new PciBus(PcLayout.PciWindowBase, PcLayout.PciWindowEnd - PcLayout.PciWindowBase);
        context.Ports.Register(PcLayout.PciConfigPort, PciBus.ConfigPortLength, bus.ConfigPorts);
        context.Mmio.Register(bus.WindowBase, bus.WindowSize, bus.Window);
        bus.Attach(0, new PciHostBridge());

        var logger = context.LoggerFactory.CreateLogger("Vessel.Virtio");
        var vm = context.VirtualMachine;
        var doorbells = new MachineDoorbells(vm, context.LoggerFactory.CreateLogger("Vessel.Vmm.Doorbells"));
        var msiLogger = context.LoggerFactory.CreateLogger("Vessel.Vmm.Msi");
        var functions = new List<IDisposable>();
        var vectors = new List<IDisposable>();
        try
        {
            void Add(IVirtioDevice device, string name)
            {
                int slot = bus.NextFreeSlot;
                if (slot < 0)
                {
                    device.Dispose();
                    throw new InvalidOperationException($"the PCI bus has no free slot for {name}");
                }
                string label = $"{name} at 00:{slot:x2}.0";
                var msi = new MachineMsiVectors(vm, msiLogger, label);
                vectors.Add(msi);
                var function = new VirtioPciFunction(device, vm.Memory,
                    context.IrqLine((uint)PciInterruptRouting.GsiFor(slot, 0)), msi, doorbells, logger, label);
                functions.Add(function);
                bus.Attach(slot, function);
                if (device is Virtio.Devices.QueuedVirtioDevice queued) context.VirtioDevices.Add(queued);
            }

            foreach (var disk in context.Config.Disks)
            {
                var block = new VirtioBlock(disk);
                Add(block, $"virtio-blk {Describe(disk)}");
                context.Disks.Add(block);
            }
            if (context.Config.VirtioRng) Add(new VirtioRng(context.Config.VirtioRngRateLimit), "virtio-rng");
            if (context.Config.VirtioConsole)
            {
                var sink = new ConsoleOutputSink(context.Config.VirtioConsoleOutput, context.LoggerFactory.CreateLogger("Vessel.Vmm.Hvc"));
                var console = new VirtioConsole(sink.Write);
                Add(console, "virtio-console");
                context.VirtioConsoleInput = new VirtioConsoleInput(console);
            }
            NetFunctions.Attach(context, Add);
        }
        catch
        {
            foreach (var function in functions) function.Dispose();
            foreach (var msi in vectors) msi.Dispose();
            doorbells.Dispose();
            throw;
        }
        // Functions first: disposing one removes its doorbells from the pump the doorbells own, and stops the
        // device threads that raise its vectors.
        context.OwnedDevices.AddRange(functions);
        context.OwnedDevices.AddRange(vectors);
        context.OwnedDevices.Add(doorbells);
    }

    private static string Describe(VirtioBlockOptions disk) => disk.Id is { Length: > 0 } id ? $"{id} ({disk.Path})" : disk.Path;
}
