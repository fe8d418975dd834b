using System.CommandLine;
using System.Globalization;
using Vessel.Virtio.Vsock;

namespace Vessel.Cli.Options;

/// <summary>`--vsock cid=N,uds=PATH`: a virtio-vsock device with the guest's context ID and the host's Unix socket.
/// <see cref="CheckCid"/> also serves the API's PUT /vsock.</summary>
public static class VsockOption
{
    public static Option<string?> Create() => new("--vsock")
    {
        Description = "A virtio-vsock device: cid=N,uds=PATH (host programs connect to PATH and write 'CONNECT <port>'; guest connections to CID 2 reach PATH_<port>)",
    };

    public static VsockOptions? Parse(string? text)
    {
        if (text is null) return null;
        ulong? cid = null;
        string? path = null;
        foreach (var part in text.Split(','))
        {
            if (part.StartsWith("cid=", StringComparison.Ordinal))
            {
                if (!ulong.TryParse(part.AsSpan(4), NumberStyles.None, CultureInfo.InvariantCulture, out ulong c))
                    throw CliException.Usage($"--vsock '{text}': cid '{part[4..]}' is not a number");
                cid = c;
            }
            else if (part.StartsWith("uds=", StringComparison.Ordinal) && part.Length > 4)
                path = part[4..];
            else
                throw CliException.Usage($"--vsock '{text}': '{part}' is not cid=N or uds=PATH");
        }
        if (cid is null || path is null)
            throw CliException.Usage($"--vsock '{text}' needs both cid=N and uds=PATH");
        return new VsockOptions(CheckCid(cid.Value, $"--vsock cid={cid}"), path);
    }

    public static ulong CheckCid(ulong cid, string what) => cid is < VsockOptions.FirstGuestCid or > VsockOptions.LastGuestCid
        ? throw CliException.Usage($"{what}: the guest's CID must be from 3 to {VsockOptions.LastGuestCid} (0-2 are reserved)")
        : cid;
}
