using System.CommandLine;
using Vessel.Virtio.Net;
using Vessel.Virtio.Net.Backends;

namespace Vessel.Cli.Options;

/// <summary>`--net user[,hostfwd=tcp:[HOSTADDR]:HOSTPORT-:GUESTPORT]...[,mac=MAC]` or `--net tap=NAME[,mac=MAC]`:
/// a virtio-net device and its backend (repeatable).</summary>
public static class NetOption
{
    private const string Syntax = "user[,hostfwd=tcp:[HOSTADDR]:HOSTPORT-:GUESTPORT]...[,mac=MAC] or tap=NAME[,mac=MAC]";

    public static Option<string[]> Create() => new("--net")
    {
        Description = $"A virtio-net device: {Syntax} (repeatable: eth0, eth1, ...)",
    };

    public static IReadOnlyList<NetworkOptions> ParseAll(IEnumerable<string>? texts) => texts?.Select(Parse).ToArray() ?? [];

    public static NetworkOptions Parse(string text)
    {
        var parts = text.Split(',');
        NetworkOptions options;
        if (parts[0] == "user")
            options = new NetworkOptions(NetworkKind.User);
        else if (parts[0].StartsWith("tap=", StringComparison.Ordinal) && parts[0].Length > 4)
            options = new NetworkOptions(NetworkKind.Tap, TapName: parts[0][4..]);
        else
            throw CliException.Usage($"--net '{text}' is not {Syntax}");

        var forwards = new List<HostForward>();
        foreach (var part in parts.Skip(1))
        {
            if (part.StartsWith("mac=", StringComparison.Ordinal))
            {
                if (!MacAddress.TryParse(part[4..], out var mac))
                    throw CliException.Usage($"--net '{text}': '{part[4..]}' is not a unicast MAC address (like 52:54:00:12:34:57)");
                options = options with { Mac = mac };
            }
            else if (part.StartsWith("hostfwd=", StringComparison.Ordinal) && options.Kind == NetworkKind.User)
            {
                forwards.Add(HostForward.TryParse(part[8..], out var error) ?? throw CliException.Usage($"--net '{text}': {error}"));
            }
            else
                throw CliException.Usage($"--net '{text}': '{part}' is not {(options.Kind == NetworkKind.User ? "hostfwd=... or mac=MAC" : "mac=MAC")}");
        }
        return options with { HostForwards = forwards };
    }
}
