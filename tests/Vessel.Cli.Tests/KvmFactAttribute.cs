using Vessel.Kvm;

namespace Vessel.Cli.Tests;

/// <summary>A fact that needs a /dev/kvm that opens as KVM (hardware or software, e.g. kvm_pvm). Where it does
/// not, the test is reported as skipped with the reason instead of failing: build machines may have no KVM.</summary>
public sealed class KvmFactAttribute : FactAttribute
{
    public KvmFactAttribute()
    {
        if (UnavailableReason is { } reason) Skip = $"needs /dev/kvm: {reason}";
    }

    /// <summary>Null when /dev/kvm opens; otherwise why not.</summary>
    public static string? UnavailableReason { get; } = Probe();

    private static string? Probe()
    {
        try
        {
            using var kvm = KvmHypervisor.Open();
            return null;
        }
        catch (KvmUnavailableException ex)
        {
            return ex.Message;
        }
    }
}
