using System.Globalization;
using System.Text.RegularExpressions;

namespace Vessel.Cli.Options;

/// <summary>Sizes as QEMU's -m takes them: a number with a binary suffix K, M, G or T (case-insensitive; "B" or
/// "iB" may follow: 512M, 1G, 2048K, 1GiB), "B" alone for bytes (4096B), and a bare number in the caller's unit
/// (MiB for --memory, as QEMU's -m and Firecracker's mem_size_mib). Every multiplication is overflow-checked.</summary>
public static partial class SizeParser
{
    public const int Bytes = 0, KiB = 10, MiB = 20, GiB = 30, TiB = 40;

    [GeneratedRegex(@"^\s*(\d+)\s*([KMGT]?)(I?B)?\s*$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SizePattern();

    /// <summary>Parses <paramref name="text"/>; a number without suffix counts in units of 2^<paramref name="bareShift"/>
    /// bytes. False for anything else, including sizes that do not fit 64 bits.</summary>
    public static bool TryParse(string text, int bareShift, out ulong bytes)
    {
        bytes = 0;
        var match = SizePattern().Match(text);
        if (!match.Success) return false;
        string unit = match.Groups[2].Value.ToUpperInvariant();
        string bytesSuffix = match.Groups[3].Value;
        if (unit.Length == 0 && bytesSuffix.Length > 1) return false; // "512iB"
        int shift = unit switch
        {
            "K" => KiB,
            "M" => MiB,
            "G" => GiB,
            "T" => TiB,
            _ => bytesSuffix.Length == 1 ? Bytes : bareShift,
        };
        if (!ulong.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out ulong number)) return false;
        if (number > ulong.MaxValue >> shift) return false;
        bytes = number << shift;
        return true;
    }

    /// <summary>True when <paramref name="text"/> is written as a size, whether or not its value fits.</summary>
    public static bool IsWellFormed(string text) => SizePattern().IsMatch(text);

    public static string Format(ulong bytes) =>
        bytes % (1UL << 30) == 0 && bytes != 0 ? $"{bytes >> 30}G"
        : bytes % (1UL << 20) == 0 && bytes != 0 ? $"{bytes >> 20}M"
        : bytes % 1024 == 0 && bytes != 0 ? $"{bytes >> 10}K"
        : $"{bytes}B";
}
