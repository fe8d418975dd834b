using System.Globalization;
using System.Net;

namespace Vessel.Virtio.Net.Backends;

/// <summary>One `hostfwd=tcp:[HOSTADDR]:HOSTPORT-:GUESTPORT` (QEMU's syntax): connections to HOSTADDR:HOSTPORT on
/// the host reach GUESTPORT in the guest. Udp is accepted too.</summary>
public sealed record HostForward(bool Udp, IPAddress? HostAddress, ushort HostPort, ushort GuestPort)
{
    /// <summary>Parses the text after `hostfwd=`, or returns null with <paramref name="error"/> set.</summary>
    public static HostForward? TryParse(string text, out string? error)
    {
        error = null;
        int colon = text.IndexOf(':');
        string protocol = colon < 0 ? "" : text[..colon];
        if (protocol is not ("tcp" or "udp"))
        {
            error = $"hostfwd '{text}' must start with tcp: or udp: (tcp:[HOSTADDR]:HOSTPORT-:GUESTPORT)";
            return null;
        }
        string rest = text[(colon + 1)..];
        int dash = rest.IndexOf("-:", StringComparison.Ordinal);
        if (dash < 0)
        {
            error = $"hostfwd '{text}' has no '-:GUESTPORT' (tcp:[HOSTADDR]:HOSTPORT-:GUESTPORT)";
            return null;
        }
        string host = rest[..dash], guest = rest[(dash + 2)..];
        int lastColon = host.LastIndexOf(':');
        if (lastColon < 0)
        {
            error = $"hostfwd '{text}': the host side must be [HOSTADDR]:HOSTPORT";
            return null;
        }
        string address = host[..lastColon], hostPort = host[(lastColon + 1)..];
        IPAddress? ip = null;
        if (address.Length > 0 && !IPAddress.TryParse(address.Trim('[', ']'), out ip))
        {
            error = $"hostfwd '{text}': '{address}' is not an IP address";
            return null;
        }
        if (!TryPort(hostPort, out ushort hp) || !TryPort(guest, out ushort gp))
        {
            error = $"hostfwd '{text}': ports must be numbers from 1 to 65535";
            return null;
        }
        return new HostForward(protocol == "udp", ip, hp, gp);
    }

    private static bool TryPort(string text, out ushort port) =>
        ushort.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port != 0;

    /// <summary>passt's `-t`/`-u` argument: [ADDR/]HOSTPORT:GUESTPORT.</summary>
    public string PasstSpec => (HostAddress is { } a ? $"{a}/" : "") + $"{HostPort}:{GuestPort}";

    public override string ToString() => $"{(Udp ? "udp" : "tcp")}:{HostAddress}:{HostPort}-:{GuestPort}";
}
