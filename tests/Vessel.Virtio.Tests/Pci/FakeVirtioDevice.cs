using Vessel.Virtio;

namespace Vessel.Virtio.Tests.Pci;

/// <summary>A device that records what its transport asks of it: two queues of up to 64 entries, 8 bytes of
/// configuration, and features VERSION_1 | bit 0 | EVENT_IDX.</summary>
internal sealed class FakeVirtioDevice : IVirtioDevice
{
    public const ulong Features = VirtioFeatures.Version1 | VirtioFeatures.RingEventIndex | 1;

    public byte[] ConfigBytes { get; } = [1, 2, 3, 4, 5, 6, 7, 8];
    public List<VirtioActivation> Activations { get; } = [];
    public List<int> Notifications { get; } = [];
    public int Resets { get; private set; }
    public bool Disposed { get; private set; }
    public Exception? ThrowOnActivate { get; set; }

    public VirtioDeviceType DeviceType => VirtioDeviceType.Entropy;
    public ulong OfferedFeatures => Features;
    public int QueueCount => 2;
    public ushort MaxQueueSize(int queueIndex) => 64;
    public int ConfigSize => ConfigBytes.Length;

    public void ReadConfig(int offset, Span<byte> data) => ConfigBytes.AsSpan(offset, data.Length).CopyTo(data);
    public void WriteConfig(int offset, ReadOnlySpan<byte> data) => data.CopyTo(ConfigBytes.AsSpan(offset));

    public void Activate(VirtioActivation activation)
    {
        if (ThrowOnActivate is { } e) throw e;
        Activations.Add(activation);
    }

    public void QueueNotify(int queueIndex) => Notifications.Add(queueIndex);
    public void Reset() => Resets++;
    public void Dispose() => Disposed = true;
}
