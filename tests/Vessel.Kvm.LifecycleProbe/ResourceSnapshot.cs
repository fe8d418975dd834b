
namespace Vessel.Kvm.LifecycleProbe;

/// <summary>What this process holds that a KVM machine could leak: descriptors (all, and the KVM ones: /dev/kvm
/// and the anon_inode:kvm-vm / kvm-vcpu:N files), kvm_run mappings, "vCPU n" threads and resident memory.</summary>
public readonly record struct ResourceSnapshot(int Fds, int KvmFds, int KvmMappings, int VcpuThreads, long Rss)
{
    public static ResourceSnapshot Measure()
    {
        var fds = Directory.GetFiles("/proc/self/fd");
        int kvmFds = fds.Count(fd => TryReadLink(fd) is { } target && (target == "/dev/kvm" || IsKvmObject(target)));
        int kvmMappings = File.ReadAllLines("/proc/self/maps").Count(IsKvmObject);
        int vcpuThreads = Directory.GetDirectories("/proc/self/task")
            .Count(task => (TryReadText(Path.Combine(task, "comm")) ?? "").StartsWith("vCPU", StringComparison.Ordinal));
        return new(fds.Length, kvmFds, kvmMappings, vcpuThreads, ProcessResources.ResidentBytes());
    }

    public override string ToString() =>
        $"fds={Fds} kvm-fds={KvmFds} kvm-mappings={KvmMappings} vcpu-threads={VcpuThreads} rss={Rss >> 20}MiB";

    /// <summary>KVM's VM and vCPU files are anonymous inodes named kvm-vm and kvm-vcpu:N.</summary>
    private static bool IsKvmObject(string text) => text.Contains("anon_inode:kvm-", StringComparison.Ordinal);

    private static string? TryReadLink(string path)
    {
        try { return new FileInfo(path).LinkTarget; }
        catch (IOException) { return null; } // closed meanwhile
    }

    private static string? TryReadText(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException) { return null; } // the thread ended meanwhile
    }
}
