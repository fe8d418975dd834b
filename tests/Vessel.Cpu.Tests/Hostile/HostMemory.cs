namespace Vessel.Cpu.Tests.Hostile;

/// <summary>This process's resident set, from /proc/self/status: its current size and its peak since
/// <see cref="ResetPeak"/> (writing 5 to /proc/self/clear_refs resets VmHWM).</summary>
internal static class HostMemory
{
    /// <summary>Collects garbage and resets the peak, so what follows is measured from the live heap; returns
    /// the resident bytes after that.</summary>
    public static long SettleAndResetPeak()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        File.WriteAllText("/proc/self/clear_refs", "5");
        return ResidentBytes();
    }

    public static long ResidentBytes() => StatusKilobytes("VmRSS:") * 1024;

    public static long PeakResidentBytes() => StatusKilobytes("VmHWM:") * 1024;

    private static long StatusKilobytes(string field)
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field, StringComparison.Ordinal))
                return long.Parse(line.AsSpan(field.Length).Trim().TrimEnd("kB").Trim());
        throw new InvalidOperationException($"{field} is missing from /proc/self/status");
    }
}
