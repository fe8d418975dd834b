using Vessel.Devices.RateLimiting;
using Vessel.Virtio.Net;

namespace Vessel.Vmm;

/// <summary>Firecracker's PATCH of a running device's rate limiters: the buckets an update names are replaced
/// (size or refill time 0 removes one), the others keep their state; the device's worker sees them at its next
/// request, and a queue waiting on the old buckets is looked at again at once.</summary>
public sealed partial class Machine
{
    /// <summary>Disk <paramref name="index"/> (in <see cref="MachineConfig.Disks"/> order). Throws
    /// <see cref="InvalidOperationException"/> once the machine has stopped.</summary>
    public void UpdateDiskRateLimit(int index, RateLimit update)
    {
        lock (_lifecycleLock)
        {
            ThrowIfEnded();
            Disks[index].RateLimit.Update(update);
        }
    }

    /// <summary>Network device <paramref name="index"/> (in <see cref="MachineConfig.Networks"/> order); a null
    /// direction is left as it is.</summary>
    public void UpdateNetworkRateLimits(int index, RateLimit? receive, RateLimit? transmit)
    {
        lock (_lifecycleLock)
        {
            ThrowIfEnded();
            var device = VirtioDevices.OfType<VirtioNet>().ElementAt(index);
            if (receive is not null) device.ReceiveRateLimit.Update(receive);
            if (transmit is not null) device.TransmitRateLimit.Update(transmit);
        }
    }

    private void ThrowIfEnded()
    {
        if (_state is MachineState.Stopped || _control.Exit is not null)
            throw new InvalidOperationException("the VM has ended");
    }
}
