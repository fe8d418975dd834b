using System.CommandLine;
using Vessel.Virtio.Net;
using Vessel.Virtio.Net.Backends;

namespace Vessel.Cli.Options;

/// <summary>`--net user[,hostfwd=tcp:[HOSTADDR]:HOSTPORT-:GUESTPORT]...[,mac=MAC]` or `--net tap=NAME[,mac=MAC]`:
/// a virtio-net device and its backend (repeatable). The checks here also serve the API's network-interfaces
/// (<see cref="FromInterface"/>), so a wrong value gets the same message whichever way it came.</summary>
public static class NetOption
{
    private const string Syntax = "user[,hostfwd=tcp:[HOSTADDR]:HOSTPORT-:GUESTPORT]...[,mac=MAC] or tap=NAME[,mac=MAC]";

    /// <summary>The API's host_dev_name for Vessel's user-mode network: ':' cannot be in a Linux interface name,
    /// so this prefix never names a TAP. What follows it is `--net user`'s options (hostfwd=...).</summary>
    public const string UserModePrefix = "user:";

    public static Option<string[]> Create() => new("--net")
    {
        Description = $"A virtio-net device: {Syntax} (repeatable: eth0, eth1, ...)",
    };

    public static IReadOnlyList<NetworkOptions> ParseAll(IEnumerable<string>? texts)
    {
        var all = texts?.Select(Parse).ToArray() ?? [];
        CheckDistinctMacs(all, "--net");
        return all;
    }

    public static NetworkOptions Parse(string text)
    {
        var parts = text.Split(',');
        string what = $"--net '{text}'";
        NetworkOptions options;
        if (parts[0] == "user")
            options = new NetworkOptions(NetworkKind.User);
        else if (parts[0].StartsWith("tap=", StringComparison.Ordinal) && parts[0].Length > 4)
            options = new NetworkOptions(NetworkKind.Tap, TapName: CheckTapName(parts[0][4..], what));
        else
            throw CliException.Usage($"--net '{text}' is not {Syntax}");
        return WithOptions(options, parts.Skip(1), what);
    }

    /// <summary>Firecracker's network interface: host_dev_name is a TAP device, or <see cref="UserModePrefix"/>
    /// and `--net user`'s options for passt; guest_mac as `mac=`.</summary>
    public static NetworkOptions FromInterface(string hostDevName, string? guestMac)
    {
        const string what = "host_dev_name";
        NetworkOptions options;
        if (hostDevName.StartsWith(UserModePrefix, StringComparison.Ordinal))
        {
            string rest = hostDevName[UserModePrefix.Length..];
            options = WithOptions(new NetworkOptions(NetworkKind.User), rest.Length == 0 ? [] : rest.Split(','), $"{what} '{hostDevName}'");
        }
        else
            options = new NetworkOptions(NetworkKind.Tap, TapName: CheckTapName(hostDevName, what));
        return guestMac is null ? options : options with { Mac = ParseMac(guestMac, "guest_mac") };
    }

    /// <summary>Two interfaces with one MAC would confuse every switch and DHCP server between them.</summary>
    public static void CheckDistinctMacs(IReadOnlyList<NetworkOptions> networks, string what)
    {
        for (int i = 0; i < networks.Count; i++)
        {
            var mac = networks[i].Mac ?? MacAddress.Default(i);
            for (int j = 0; j < i; j++)
                if ((networks[j].Mac ?? MacAddress.Default(j)) == mac)
                    throw CliException.Usage($"{what}: the MAC address {mac} is already in use by another interface");
        }
    }

    public static MacAddress ParseMac(string text, string what) =>
        MacAddress.TryParse(text, out var mac) ? mac
            : throw CliException.Usage($"{what}: '{text}' is not a unicast MAC address (like 52:54:00:12:34:57)");

    /// <summary>A Linux interface name: 1 to 15 bytes, no '/', ':' or whitespace, not "." or "..".</summary>
    public static string CheckTapName(string name, string what)
    {
        if (name.Length is 0 or > 15 || name is "." or ".." || name.Any(c => c is '/' or ':' || char.IsWhiteSpace(c) || c > 0x7e))
            throw CliException.Usage($"{what}: '{name}' is not a network interface name (1 to 15 characters, no '/', ':' or spaces)");
        return name;
    }

    private static NetworkOptions WithOptions(NetworkOptions options, IEnumerable<string> parts, string what)
    {
        var forwards = new List<HostForward>();
        foreach (var part in parts)
        {
            if (part.StartsWith("mac=", StringComparison.Ordinal))
                options = options with { Mac = ParseMac(part[4..], what) };
            else if (part.StartsWith("hostfwd=", StringComparison.Ordinal) && options.Kind == NetworkKind.User)
                forwards.Add(HostForward.TryParse(part[8..], out var error) ?? throw CliException.Usage($"{what}: {error}"));
            else
                throw CliException.Usage($"{what}: '{part}' is not {(options.Kind == NetworkKind.User ? "hostfwd=... or mac=MAC" : "mac=MAC")}");
        }
        return options with { HostForwards = forwards };
    }
}
