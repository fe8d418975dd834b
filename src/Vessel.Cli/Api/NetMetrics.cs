using System.Text.Json;
using Vessel.Virtio.Net;

namespace Vessel.Cli.Api;

/// <summary>The virtio-net counters of a metrics line, in Firecracker's layout and names: a "net" object summed over
/// the interfaces and "net_IFACEID" for each. Where Vessel counts differently from Firecracker: no_rx_avail_buffer is
/// the frames lost because the guest had posted no receive buffer (Firecracker counts the times it found none and
/// leaves the frame in the TAP); rx_fails the other lost frames for the guest (larger than its buffers, link down);
/// tx_fails the guest's frames dropped (malformed, link down, or the backend could not take them).</summary>
public static class NetMetrics
{
    public static void Write(Utf8JsonWriter json, IReadOnlyList<(string IfaceId, NetStatistics Statistics)> interfaces)
    {
        if (interfaces.Count == 0) return;
        var total = default(NetStatistics);
        foreach (var (_, s) in interfaces)
            total = new NetStatistics(
                total.ReceivedFrames + s.ReceivedFrames, total.ReceivedBytes + s.ReceivedBytes,
                total.TransmittedFrames + s.TransmittedFrames, total.TransmittedBytes + s.TransmittedBytes,
                total.ReceiveDrops + s.ReceiveDrops, total.ReceiveOverruns + s.ReceiveOverruns, total.TransmitDrops + s.TransmitDrops);
        WriteOne(json, "net", total);
        foreach (var (id, s) in interfaces) WriteOne(json, $"net_{id}", s);
    }

    private static void WriteOne(Utf8JsonWriter json, string name, NetStatistics s)
    {
        json.WriteStartObject(name);
        json.WriteNumber("rx_bytes_count", s.ReceivedBytes);
        json.WriteNumber("rx_packets_count", s.ReceivedFrames);
        json.WriteNumber("tx_bytes_count", s.TransmittedBytes);
        json.WriteNumber("tx_packets_count", s.TransmittedFrames);
        json.WriteNumber("no_rx_avail_buffer", s.ReceiveOverruns);
        json.WriteNumber("rx_fails", s.ReceiveDrops - s.ReceiveOverruns);
        json.WriteNumber("tx_fails", s.TransmitDrops);
        json.WriteEndObject();
    }
}
