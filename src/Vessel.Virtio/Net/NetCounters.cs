namespace Vessel.Virtio.Net;

/// <summary>One reading of a virtio-net device's counters (for metrics). Frames and bytes are Ethernet frames without
/// the vnet header.</summary>
/// <param name="ReceiveDrops">Frames for the guest that were lost: the guest had not posted receive buffers fast enough
/// (the backend's ring was full), a frame was larger than the buffers it may chain, or the link was down.</param>
/// <param name="ReceiveOverruns">Of <paramref name="ReceiveDrops"/>, those for want of room: the guest took frames
/// too slowly and the backend's ring was full.</param>
/// <param name="TransmitDrops">Guest frames that were malformed, came while the link was down, or the backend could
/// not take.</param>
public readonly record struct NetStatistics(
    long ReceivedFrames, long ReceivedBytes, long TransmittedFrames, long TransmittedBytes,
    long ReceiveDrops, long ReceiveOverruns, long TransmitDrops);

/// <summary>Frame counters, written on the device's worker thread and read from any thread.</summary>
public sealed class NetCounters
{
    internal long ReceivedFrames, ReceivedBytes, TransmittedFrames, TransmittedBytes, ReceiveDropped, TransmitDropped;

    public long Received => Interlocked.Read(ref ReceivedFrames);
    public long Transmitted => Interlocked.Read(ref TransmittedFrames);
    /// <summary>Frames for the guest dropped by the device: larger than the guest's buffers, or the link was down.
    /// (Frames the backend's full ring refused are in <see cref="VirtioNet.Statistics"/>.)</summary>
    public long ReceiveDrops => Interlocked.Read(ref ReceiveDropped);
    /// <summary>Guest frames that were malformed or that the backend could not take.</summary>
    public long TransmitDrops => Interlocked.Read(ref TransmitDropped);
}
