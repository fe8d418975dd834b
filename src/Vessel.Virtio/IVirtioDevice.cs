namespace Vessel.Virtio;

/// <summary>A virtio device (blk, rng, console, net, vsock) as a state machine over the queues a transport hands
/// it. It knows nothing of PCI or MMIO, of backends or of vCPU threads: the transport (virtio-pci) owns the
/// driver-visible registers, feature negotiation and device status, and calls these members.</summary>
public interface IVirtioDevice : IDisposable
{
    VirtioDeviceType DeviceType { get; }

    /// <summary>Feature bits the device offers (VIRTIO_F_VERSION_1 included; the transport adds none).</summary>
    ulong OfferedFeatures { get; }

    int QueueCount { get; }

    /// <summary>The largest size the driver may give queue <paramref name="queueIndex"/> (a power of two).</summary>
    ushort MaxQueueSize(int queueIndex);

    /// <summary>Bytes of device-specific configuration space.</summary>
    int ConfigSize { get; }

    /// <summary>Reads device configuration; <paramref name="offset"/> + length lies within <see cref="ConfigSize"/>
    /// (the transport checks).</summary>
    void ReadConfig(int offset, Span<byte> data);

    void WriteConfig(int offset, ReadOnlySpan<byte> data);

    /// <summary>The driver set DRIVER_OK: the device starts serving the enabled queues.</summary>
    void Activate(VirtioActivation activation);

    /// <summary>The driver kicked queue <paramref name="queueIndex"/>. Called on a vCPU thread or an I/O thread;
    /// must not block on host I/O.</summary>
    void QueueNotify(int queueIndex);

    /// <summary>The driver wrote 0 to device status: the device stops, finishes or drops in-flight work and forgets
    /// its queues before returning, and is ready for a new <see cref="Activate"/>.</summary>
    void Reset();
}

/// <summary>Everything an activated device needs: guest memory, what was negotiated, its queues and how to
/// interrupt the driver. A device that finds the driver misbehaving calls <see cref="IVirtioInterrupt.NeedsReset"/>.</summary>
public sealed record VirtioActivation(
    Vessel.Hypervisor.GuestMemory Memory,
    ulong NegotiatedFeatures,
    IReadOnlyList<VirtioQueueConfig?> Queues,
    IVirtioInterrupt Interrupt);

/// <summary>One queue as the driver set it up (null in <see cref="VirtioActivation.Queues"/>: not enabled).
/// Addresses are guest-physical and not yet validated.</summary>
public sealed record VirtioQueueConfig(ushort Size, ulong DescriptorTable, ulong AvailableRing, ulong UsedRing);

/// <summary>How a device reaches the driver; implemented by the transport (ISR + INTx, or an MSI-X vector).
/// Safe from any thread.</summary>
public interface IVirtioInterrupt
{
    /// <summary>Used buffers were added to queue <paramref name="queueIndex"/>.</summary>
    void QueueInterrupt(int queueIndex);

    /// <summary>The device configuration changed.</summary>
    void ConfigInterrupt();

    /// <summary>The driver broke the protocol: the transport sets DEVICE_NEEDS_RESET, logs <paramref name="reason"/>
    /// once and raises a configuration interrupt. The device has stopped serving its queues.</summary>
    void NeedsReset(string reason);
}

/// <summary>Device IDs (virtio 1.x, 5).</summary>
public enum VirtioDeviceType : ushort
{
    Net = 1,
    Block = 2,
    Console = 3,
    Entropy = 4,
    Vsock = 19,
}

/// <summary>Device-independent feature bits (virtio 1.x, 6).</summary>
public static class VirtioFeatures
{
    public const ulong RingIndirectDescriptors = 1UL << 28;
    public const ulong RingEventIndex = 1UL << 29;
    public const ulong Version1 = 1UL << 32;
}
