using Microsoft.Extensions.Logging;

namespace Vessel.Cli;

/// <summary>What opening the kvm device gave.</summary>
public enum KvmProbe
{
    Opens,
    Missing,
    /// <summary>It exists but refused: permissions, busy, not KVM, too old.</summary>
    Refused,
}

/// <summary>The outcome of --backend auto: which backend, and the line that says why.</summary>
public sealed record AutoBackendDecision(bool UseKvm, LogLevel Level, string Message);

/// <summary>--backend auto as a function of what the host has, so every case is testable on any machine.</summary>
public static class AutoBackend
{
    /// <param name="device">the kvm device path, for the message</param>
    /// <param name="probe">what opening it gave</param>
    /// <param name="refusal">why it refused, when <paramref name="probe"/> is <see cref="KvmProbe.Refused"/></param>
    /// <param name="cpuHasVirtualization">whether the CPU flags list vmx or svm</param>
    public static AutoBackendDecision Decide(string device, KvmProbe probe, string? refusal, bool cpuHasVirtualization) =>
        (probe, cpuHasVirtualization) switch
        {
            (KvmProbe.Opens, true) => new(true, LogLevel.Information, $"using the kvm backend ({device})"),
            // A software KVM (kvm_pvm) emulates what VMX/SVM would run: far slower than the emu backend's JIT.
            (KvmProbe.Opens, false) => new(false, LogLevel.Information,
                $"{device} is present but the CPU has no VMX/SVM (kvm_pvm?); using the emu backend; --backend kvm forces it"),
            (KvmProbe.Missing, _) => new(false, LogLevel.Information, $"{device} does not exist; using the emu backend"),
            // With VMX/SVM the user very likely wanted kvm: say so at warning level, visible by default.
            (_, true) => new(false, LogLevel.Warning, $"{refusal}; using the emu backend"),
            (_, false) => new(false, LogLevel.Information, $"{refusal}; using the emu backend"),
        };
}
