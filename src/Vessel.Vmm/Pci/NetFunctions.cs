using Microsoft.Extensions.Logging;
using Vessel.Virtio;
using Vessel.Virtio.Net;
using Vessel.Virtio.Vsock;

namespace Vessel.Vmm.Pci;

/// <summary>A virtio-net function per `--net`, then the virtio-vsock function of `--vsock`, after the other devices.
/// Each net device opens its backend (passt or TAP) first, so a backend that cannot be opened fails the build with
/// its one line and nothing half-made.</summary>
internal static class NetFunctions
{

    /// <summary><paramref name="add"/> places a device in the next free slot (and disposes it if there is none).</summary>
    public static void Attach(PcDeviceContext context, Action<IVirtioDevice, string> add)
    {
        var networks = context.Config.Networks;
        for (int index = 0; index < networks.Count; index++)
        {
            var options = networks[index];
            var logger = context.LoggerFactory.CreateLogger("Vessel.Net");
            var backend = options.OpenBackend(logger);
            VirtioNet device;
            try
            {
                device = new VirtioNet(backend, options.Mac ?? MacAddress.Default(index), logger);
                if (options.ReceiveRateLimit is { } receive) device.ReceiveRateLimit.Update(receive);
                if (options.TransmitRateLimit is { } transmit) device.TransmitRateLimit.Update(transmit);
            }
            catch
            {
                backend.Dispose();
                throw;
            }
            add(device, $"virtio-net {options.Describe()} {device.Mac}");
        }
        if (context.Config.Vsock is { } vsock)
            add(new VirtioVsock(vsock), $"virtio-vsock cid {vsock.GuestCid} at {vsock.UdsPath}");
    }
}
