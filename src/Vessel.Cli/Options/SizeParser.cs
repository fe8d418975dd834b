using System.Globalization;
using System.Text.RegularExpressions;

namespace Vessel.Cli.Options;

/// <summary>Sizes as QEMU's -m takes them: plain bytes, or a number with a binary suffix K, M, G or T
/// (case-insensitive; "B" or "iB" may follow: 512M, 1G, 2048K, 1GiB, 1048576).</summary>
public static partial class SizeParser
{
    [GeneratedRegex(@"^\s*(\d+)\s*([KMGT]?)(I?B)?\s*$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SizePattern();

    public static bool TryParse(string text, out ulong bytes)
    {
        bytes = 0;
        var match = SizePattern().Match(text);
        if (!match.Success) return false;
        string unit = match.Groups[2].Value.ToUpperInvariant();
        if (unit.Length == 0 && match.Groups[3].Value.Length > 1) return false; // "512iB"
        int shift = unit switch { "K" => 10, "M" => 20, "G" => 30, "T" => 40, _ => 0 };
        if (!ulong.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out ulong number)) return false;
        if (number > ulong.MaxValue >> shift) return false;
        bytes = number << shift;
        return true;
    }

    public static string Format(ulong bytes) =>
        bytes % (1UL << 30) == 0 && bytes != 0 ? $"{bytes >> 30}G"
        : bytes % (1UL << 20) == 0 && bytes != 0 ? $"{bytes >> 20}M"
        : bytes % 1024 == 0 && bytes != 0 ? $"{bytes >> 10}K"
        : $"{bytes}";
}
