using Microsoft.Extensions.Logging;
using Vessel.Hypervisor;

namespace Vessel.Vmm;

/// <summary>What a pause does besides parking the vCPUs: devices drained and held, the guest clock stopped.</summary>
public sealed partial class Machine
{
    /// <summary>Every virtio device with queues, in PCI slot order (metrics read their counters).</summary>
    public IReadOnlyList<Virtio.Devices.QueuedVirtioDevice> VirtioDevices { get; internal init; } = [];

    /// <summary>Each vCPU's exits by reason and CPU time, for metrics.</summary>
    public IReadOnlyList<VcpuCounters> VcpuCounters => [.. _threads.Select(t => t.Counters)];

    /// <summary>Whether the guest's clock stands still while paused (the backend saves and restores it).</summary>
    public bool GuestClockStopsWhilePaused => _vm is IGuestClockControl;

    /// <summary>Under the lifecycle lock, with every vCPU parked.</summary>
    private void PauseDevicesAndClock()
    {
        foreach (var device in VirtioDevices)
            if (!device.Pause()) LogDrainTimedOut(_logger, device.GetType().Name);
        if (_vm is IGuestClockControl clock) clock.SaveGuestClock();
    }

    /// <summary>Under the lifecycle lock, before the vCPUs run again.</summary>
    private void ResumeDevicesAndClock()
    {
        if (_vm is IGuestClockControl clock) clock.RestoreGuestClock();
        foreach (var device in VirtioDevices) device.Resume();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "pause: {Device} did not finish its requests in time; it is held with them pending")]
    private static partial void LogDrainTimedOut(ILogger logger, string device);
}
