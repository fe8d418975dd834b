namespace Vessel.Cli.Options;

/// <summary>One `--disk PATH[,readonly][,id=NAME]`: a raw image the guest sees as a virtio-blk disk.</summary>
public sealed record DiskOption(string Path, bool ReadOnly, string? Id)
{
    /// <summary>Firecracker's rate_limiter (the API and config file set it); null: none.</summary>
    public Vessel.Devices.RateLimiting.RateLimit? RateLimit { get; init; }

    public static IReadOnlyList<DiskOption> ParseAll(IEnumerable<string>? texts) => texts?.Select(Parse).ToArray() ?? [];

    public static DiskOption Parse(string text)
    {
        var parts = text.Split(',');
        if (parts[0].Length == 0) throw CliException.Usage($"--disk '{text}' names no image (PATH[,readonly][,id=NAME])");
        bool readOnly = false;
        string? id = null;
        foreach (var part in parts.Skip(1))
        {
            if (part == "readonly") readOnly = true;
            else if (part.StartsWith("id=", StringComparison.Ordinal) && part.Length > 3) id = part[3..];
            else throw CliException.Usage($"--disk '{text}': '{part}' is not readonly or id=NAME");
        }
        return new DiskOption(parts[0], readOnly, id);
    }
}
