namespace Vessel.Virtio.Net;

/// <summary>
/// Where a virtio-net device's frames go and come from: a TAP device, passt, or a test. The device calls
/// <see cref="Send"/> on its worker thread; the backend's own reader thread writes frames for the guest into the
/// <see cref="FrameRing"/> it was started with. Frames carry a virtio_net_hdr_v1 in front exactly when
/// <see cref="CarriesVnetHeader"/> is true (then checksum and segmentation offloads can pass through).
/// </summary>
public interface INetBackend : IDisposable
{
    /// <summary>For log lines ("passt (pid 123)", "tap0").</summary>
    string Description { get; }

    bool CarriesVnetHeader { get; }

    /// <summary>The MTU the device offers the guest (VIRTIO_NET_F_MTU: Linux takes it as eth0's MTU), or 0 to offer
    /// none (the guest uses 1500).</summary>
    ushort Mtu { get; }

    /// <summary>Frames from this backend always carry correct checksums (a user-mode stack in the host built them
    /// and they crossed only a local socket): the device marks them VIRTIO_NET_HDR_F_DATA_VALID so the guest does
    /// not check them again.</summary>
    bool ChecksumsVerified { get; }

    /// <summary>Starts delivering host frames into <paramref name="toGuest"/>; called once.</summary>
    void Start(FrameRing toGuest);

    /// <summary>The driver negotiated <paramref name="negotiatedFeatures"/>: the backend turns on the offloads it
    /// may now hand the guest (TUNSETOFFLOAD).</summary>
    void SetOffloads(ulong negotiatedFeatures);

    /// <summary>Sends one frame to the host; may block until the host takes it. False: the backend has failed
    /// and the frame is lost (a NIC whose cable is cut).</summary>
    bool Send(ReadOnlySpan<byte> frame);

    /// <summary>The device is going away: a <see cref="Send"/> blocked on the host returns false now, and later ones
    /// at once. <see cref="IDisposable.Dispose"/> follows once the device's worker has stopped.</summary>
    void Abort();
}
