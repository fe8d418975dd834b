namespace Vessel.Cli;

/// <summary>What the host CPU offers, from /proc/cpuinfo.</summary>
public static class HostCpu
{
    public const string CpuInfoPath = "/proc/cpuinfo";

    /// <summary>Whether the CPU has hardware virtualization (Intel VMX or AMD SVM). A /dev/kvm without it is
    /// a software KVM such as kvm_pvm, which runs guests correctly but emulates much of their code.</summary>
    public static bool HasHardwareVirtualization() => HasHardwareVirtualization(ReadCpuInfo());

    /// <summary>True when a "flags" line of <paramref name="cpuInfo"/> lists vmx or svm.</summary>
    public static bool HasHardwareVirtualization(string cpuInfo)
    {
        foreach (var line in cpuInfo.Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon < 0 || line[..colon].Trim() != "flags") continue;
            foreach (var flag in line[(colon + 1)..].Split(' ', '\t'))
                if (flag is "vmx" or "svm") return true;
        }
        return false;
    }

    private static string ReadCpuInfo()
    {
        try
        {
            return File.ReadAllText(CpuInfoPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }
}
