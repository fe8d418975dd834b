namespace Vessel.Vmm;

public enum MachineExitKind
{
    /// <summary>The guest wrote to isa-debug-exit; the status is (value &lt;&lt; 1) | 1.</summary>
    GuestExit,
    /// <summary>The guest asked for a reset (i8042 0xFE); like QEMU -no-reboot, the VM ends with status 0.</summary>
    Reset,
    /// <summary>A vCPU triple-faulted; treated as a reset.</summary>
    TripleFault,
    /// <summary>Every vCPU halted with interrupts off.</summary>
    AllVcpusHalted,
    /// <summary>The VMM stopped the VM (Stop(), Ctrl-A x, a signal).</summary>
    Stopped,
    /// <summary>The backend or the VMM failed (internal error, exception in a device).</summary>
    Failed,
}

/// <summary>How and why a VM ended; <see cref="Status"/> is what the vessel process exits with.</summary>
public sealed record MachineExit(MachineExitKind Kind, int Status, string Reason)
{
    public const int FailureStatus = 1;

    public bool IsFailure => Kind == MachineExitKind.Failed;

    public static MachineExit GuestExit(int status) =>
        new(MachineExitKind.GuestExit, status, $"guest wrote to isa-debug-exit (status {status})");
    public static MachineExit Reset(string source) => new(MachineExitKind.Reset, 0, $"guest requested a reset ({source})");
    public static MachineExit TripleFault(string? detail) =>
        new(MachineExitKind.TripleFault, 0, detail is null ? "vCPU triple fault (reset)" : $"vCPU triple fault (reset): {detail}");
    public static readonly MachineExit AllVcpusHalted = new(MachineExitKind.AllVcpusHalted, 0, "all vCPUs halted");
    public static MachineExit Stopped(string reason, int status = 0) => new(MachineExitKind.Stopped, status, reason);
    public static MachineExit Failed(string reason) => new(MachineExitKind.Failed, FailureStatus, reason);

    public override string ToString() => $"{Reason} (exit status {Status})";
}
