using System.Text.Json;
using Vessel.Virtio.Net;

namespace Vessel.Cli.Api;

/// <summary>The virtio-net counters of a metrics line, in Firecracker's layout and names: a "net" object summed over
/// the interfaces and "net_IFACEID" for each. Where Vessel counts differently from Firecracker: no_rx_avail_buffer is
/// the frames lost because the guest had posted no receive buffer (Firecracker counts the times it found none and
/// leaves the frame in the TAP); rx_fails the other lost frames for the guest (larger than its buffers, link down);
/// tx_fails the guest's frames dropped (malformed, link down, or the backend could not take them).
/// rx_rate_limiter_throttled and tx_rate_limiter_throttled count the times a frame was held back by a rate limiter
/// (each retry counts).</summary>
public static class NetMetrics
{
    /// <param name="throttled">Per interface, in the same order: the rate limiters' throttle counts (none: not written).</param>
    public static void Write(Utf8JsonWriter json, IReadOnlyList<(string IfaceId, NetStatistics Statistics)> interfaces,
        IReadOnlyList<(long Receive, long Transmit)>? throttled = null)
    {
        if (interfaces.Count == 0) return;
        var total = default(NetStatistics);
        foreach (var (_, s) in interfaces)
            total = new NetStatistics(
                total.ReceivedFrames + s.ReceivedFrames, total.ReceivedBytes + s.ReceivedBytes,
                total.TransmittedFrames + s.TransmittedFrames, total.TransmittedBytes + s.TransmittedBytes,
                total.ReceiveDrops + s.ReceiveDrops, total.ReceiveOverruns + s.ReceiveOverruns, total.TransmitDrops + s.TransmitDrops);
        (long Receive, long Transmit)? totalThrottled = throttled is null ? null : (throttled.Sum(t => t.Receive), throttled.Sum(t => t.Transmit));
        WriteOne(json, "net", total, totalThrottled);
        for (int i = 0; i < interfaces.Count; i++)
            WriteOne(json, $"net_{interfaces[i].IfaceId}", interfaces[i].Statistics, throttled is null ? null : throttled[i]);
    }

    private static void WriteOne(Utf8JsonWriter json, string name, NetStatistics s, (long Receive, long Transmit)? throttled)
    {
        json.WriteStartObject(name);
        json.WriteNumber("rx_bytes_count", s.ReceivedBytes);
        json.WriteNumber("rx_packets_count", s.ReceivedFrames);
        json.WriteNumber("tx_bytes_count", s.TransmittedBytes);
        json.WriteNumber("tx_packets_count", s.TransmittedFrames);
        json.WriteNumber("no_rx_avail_buffer", s.ReceiveOverruns);
        json.WriteNumber("rx_fails", s.ReceiveDrops - s.ReceiveOverruns);
        json.WriteNumber("tx_fails", s.TransmitDrops);
        if (throttled is { } t)
        {
            json.WriteNumber("rx_rate_limiter_throttled", t.Receive);
            json.WriteNumber("tx_rate_limiter_throttled", t.Transmit);
        }
        json.WriteEndObject();
    }
}
