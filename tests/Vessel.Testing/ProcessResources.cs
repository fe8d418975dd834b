namespace Vessel.Testing;

/// <summary>This process's open file descriptors and resident memory, from /proc.</summary>
public static class ProcessResources
{
    public static int OpenFileDescriptors() => Directory.GetFiles("/proc/self/fd").Length;

    public static long ResidentBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0]) * 1024;
        throw new InvalidOperationException("no VmRSS in /proc/self/status");
    }

    public static void CollectGarbage()
    {
        for (int i = 0; i < 2; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
    }
}
