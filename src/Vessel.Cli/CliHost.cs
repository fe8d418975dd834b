using Microsoft.Extensions.Logging;
using Vessel.Cli.Options;
using Vessel.Hypervisor;

namespace Vessel.Cli;

/// <summary>What the CLI takes from the process around it. Program.Main passes the real one; tests pass
/// pipes and, if they like, their own backend.</summary>
public sealed record CliHost
{
    /// <summary>Whether stdin is a terminal (then it is put in raw mode and Ctrl-A escapes apply).</summary>
    public bool StdinIsTerminal { get; init; }

    /// <summary>The file descriptor of that terminal.</summary>
    public int StdinFd { get; init; }

    /// <summary>Whether to catch SIGINT/SIGTERM/SIGHUP to stop the VM cleanly.</summary>
    public bool HandleSignals { get; init; } = true;

    /// <summary>Stops a running VM when cancelled, as a signal would; lets an embedding (a test) end a guest
    /// that will not end by itself.</summary>
    public CancellationToken Stop { get; init; }

    /// <summary>Creates the backend --backend names; the tier is the software CPU's (--emu-tier).</summary>
    public Func<BackendChoice, Vessel.Cpu.EmuTier, ILogger, IHypervisor> CreateBackend { get; init; } = Backends.Create;

    /// <summary>Finds (building if needed) the guest booted when no --kernel is given; gets a progress writer.</summary>
    public Func<TextWriter, DefaultGuest.Files> ResolveDefaultGuest { get; init; } = DefaultGuest.Ensure;

    public static CliHost ForCurrentProcess() => new()
    {
        StdinIsTerminal = Console.TerminalRawMode.IsTerminal(0),
        StdinFd = 0,
    };
}
