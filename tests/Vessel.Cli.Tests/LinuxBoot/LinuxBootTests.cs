using System.Diagnostics;
using Xunit.Abstractions;

namespace Vessel.Cli.Tests.LinuxBoot;

/// <summary>The stock Debian kernel boots under `vessel run` on the emu backend to a busybox shell, runs
/// commands and a static SSE/long-double program, and ends with `reboot -f` (vessel exits 0).
/// Long: its own category, which .ci/run still runs.</summary>
[Trait("Category", "LinuxBoot")]
public class LinuxBootTests(ITestOutputHelper output)
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(8);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(2);
    private const string Marker = "VESSEL-GUEST-READY";

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void DebianKernelBootsToAShellAndRunsCommands(int cpus)
    {
        var guest = DefaultGuest.Ensure(TextWriter.Null);
        string fpcheckDirectory = Path.GetDirectoryName(guest.Kernel)!;
        string expectedFpcheck = RunNatively(Path.Combine(fpcheckDirectory, "fpcheck"));

        var started = Stopwatch.StartNew();
        using var session = new GuestSession(
        [
            "run", "--backend", "emu", "--kernel", guest.Kernel, "--initrd", guest.Initrd,
            "--append", DefaultGuest.CommandLine, "--memory", "512M", "--cpus", cpus.ToString(),
        ]);
        session.WaitFor(Marker, BootTimeout);
        output.WriteLine($"marker after {started.Elapsed.TotalSeconds:F1} s with {cpus} vCPU(s)");
        session.WaitFor("# ", CommandTimeout);

        string uname = session.Run("uname -a", CommandTimeout);
        Assert.Contains("Linux", uname);
        Assert.Contains("6.1.0", uname);

        string cpuinfo = session.Run("cat /proc/cpuinfo", CommandTimeout);
        Assert.Equal(cpus, cpuinfo.Split('\n').Count(line => line.StartsWith("processor", StringComparison.Ordinal)));

        Assert.Contains("42", session.Run("echo $((6*7))", CommandTimeout));
        Assert.Contains(expectedFpcheck, session.Run("fpcheck", CommandTimeout));

        session.Type("reboot -f\n");
        Assert.True(session.WaitForExit(CommandTimeout), "vessel did not exit after reboot -f");
        Assert.Equal(0, session.ExitCode);
    }

    private static string RunNatively(string program)
    {
        using var p = Process.Start(new ProcessStartInfo(program) { RedirectStandardOutput = true })!;
        string line = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        Assert.StartsWith("fpcheck ", line);
        return line;
    }
}
