using Microsoft.Extensions.Logging;

namespace Vessel.Virtio.Net;

/// <summary>
/// Says that a network device dropped frames: at the first drop, then at most once per <see cref="IntervalMs"/>
/// while drops go on, with the totals so far. A guest that posts no receive buffers can make every frame a drop;
/// the log must not grow with them. Called from the backend's reader and the device's worker; no allocation.
/// </summary>
internal sealed partial class NetDropLog(ILogger logger, string device, Func<NetStatistics> statistics)
{
    public const long IntervalMs = 10_000;

    private long _nextAt = long.MinValue;

    public void Dropped()
    {
        long now = Environment.TickCount64;
        long next = Interlocked.Read(ref _nextAt);
        if (now < next || Interlocked.CompareExchange(ref _nextAt, now + IntervalMs, next) != next)
            return;
        var s = statistics();
        LogDrops(logger, device, s.ReceiveDrops, s.ReceivedFrames, s.ReceiveOverruns, s.TransmitDrops, s.TransmittedFrames);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Device} dropped frames: {ReceiveDrops} to the guest (of " +
        "{Received} delivered; {Overruns} of them because it took frames too slowly, the others larger than its " +
        "buffers or with the link down) and {TransmitDrops} from it (of {Transmitted} sent); said at most once per 10 s")]
    private static partial void LogDrops(ILogger logger, string device, long receiveDrops, long received, long overruns,
        long transmitDrops, long transmitted);
}
