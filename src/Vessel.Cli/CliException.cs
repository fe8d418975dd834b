namespace Vessel.Cli;

/// <summary>A user-facing failure: printed as one line "vessel: message", never with a stack trace.</summary>
public sealed class CliException(string message, int exitCode) : Exception(message)
{
    public const int UsageExitCode = 2;
    public const int RuntimeExitCode = 1;

    public int ExitCode { get; } = exitCode;

    /// <summary>Something wrong on the command line itself (unparseable or out-of-range value).</summary>
    public static CliException Usage(string message) => new(message, UsageExitCode);

    /// <summary>The command line was fine but the request cannot be carried out (missing file, bad image).</summary>
    public static CliException Runtime(string message) => new(message, RuntimeExitCode);
}
