using Microsoft.Extensions.Logging;
using Vessel.Virtio.Net.Backends;

namespace Vessel.Virtio.Net;

public enum NetworkKind { User, Tap }

/// <summary>One `--net`: user-mode networking through passt (with host forwards) or an existing TAP device.</summary>
public sealed record NetworkOptions(NetworkKind Kind, MacAddress? Mac = null, string? TapName = null)
{
    public IReadOnlyList<HostForward> HostForwards { get; init; } = [];

    /// <summary>Firecracker's rx_rate_limiter and tx_rate_limiter (null: none).</summary>
    public Vessel.Devices.RateLimiting.RateLimit? ReceiveRateLimit { get; init; }

    public Vessel.Devices.RateLimiting.RateLimit? TransmitRateLimit { get; init; }

    /// <summary>Opens the backend these options name; throws <see cref="NetBackendException"/> with one line for the user.</summary>
    public INetBackend OpenBackend(ILogger logger) => Kind switch
    {
        NetworkKind.User => PasstBackend.Start(HostForwards, logger),
        NetworkKind.Tap => TapBackend.Open(TapName!, logger),
        _ => throw new NetBackendException($"--net {Kind}: not supported"),
    };

    public string Describe() => Kind == NetworkKind.Tap ? $"tap {TapName}" : "user (passt)";
}
