namespace Vessel.Cli;

/// <summary>How much memory the host has, from /proc/meminfo.</summary>
public static class HostMemory
{
    /// <summary>RAM plus swap in bytes, or null when /proc/meminfo cannot be read.</summary>
    public static ulong? TotalBytes()
    {
        try
        {
            return TotalBytes(File.ReadAllText("/proc/meminfo"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>MemTotal + SwapTotal of a /proc/meminfo text, or null without MemTotal.</summary>
    public static ulong? TotalBytes(string meminfo)
    {
        ulong? ram = null, swap = 0;
        foreach (var line in meminfo.Split('\n'))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2 || !ulong.TryParse(parts[1], out ulong kib)) continue;
            if (parts[0] == "MemTotal:") ram = kib * 1024;
            else if (parts[0] == "SwapTotal:") swap = kib * 1024;
        }
        return ram + swap;
    }

    public static string Describe(ulong bytes) => $"{bytes / (double)(1UL << 30):0.#} GiB";
}
