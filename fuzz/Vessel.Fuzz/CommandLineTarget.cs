using System.Text;
using Vessel.Cli;

namespace Vessel.Fuzz;

/// <summary>The `vessel` command line: the input, as UTF-8 split at NUL bytes, is the argument vector given to
/// <see cref="VesselCli.ParseRun"/>, which parses and validates it without running anything. A usage error
/// (<see cref="CliException"/>) is the clean refusal.</summary>
public static class CommandLineTarget
{
    public static void Parse(ReadOnlySpan<byte> data)
    {
        string[] args = Encoding.UTF8.GetString(data).Split('\0');
        try
        {
            VesselCli.ParseRun(args);
        }
        catch (CliException)
        {
        }
    }

    public static FuzzTarget Target { get; } = new("cmdline", "`vessel` arguments (System.CommandLine and RunOptions)", Parse, () =>
    [
        Args("run", "--kernel", "vmlinuz", "--initrd", "initrd.gz", "--append", "console=ttyS0", "--memory", "512M", "--cpus", "2"),
        Args("run", "-m", "1GiB", "--backend", "emu", "--serial", "file:/tmp/x", "--log-level", "debug"),
        Args("run", "--serial", "none", "--memory", "18446744073709551615", "--cpus", "255"),
        Args("run", "--help"),
        Args("run", "@/"),   // found by libFuzzer: response-file expansion threw (now off)
    ]);

    private static byte[] Args(params string[] args) => Encoding.UTF8.GetBytes(string.Join('\0', args));
}
