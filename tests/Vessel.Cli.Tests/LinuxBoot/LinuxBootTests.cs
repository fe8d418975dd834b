using System.Diagnostics;
using Xunit.Abstractions;

namespace Vessel.Cli.Tests.LinuxBoot;

/// <summary>The stock Debian kernel boots under `vessel run` on the emu backend to a busybox shell with 1, 2
/// and 4 vCPUs, runs commands and a static SSE/long-double program, keeps host time (`date`, `sleep 5`),
/// costs almost no host CPU when idle, and ends with `reboot -f` (vessel exits 0). The console is a
/// pseudo-terminal, as a user's: Tab completion works at once, every command line appears
/// once (the guest's echo, never the host's), and the terminal's settings come back unchanged.
/// Long: its own category, which .ci/run still runs.</summary>
[Trait("Category", "LinuxBoot")]
[Collection(LinuxGuestCollection.Name)]
public class LinuxBootTests(ITestOutputHelper output)
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(8);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(2);
    private const string Marker = "VESSEL-GUEST-READY";

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
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
        ], pty: true);
        session.WaitFor(Marker, BootTimeout);
        output.WriteLine($"marker after {started.Elapsed.TotalSeconds:F1} s with {cpus} vCPU(s)");
        session.WaitFor("# ", CommandTimeout);

        string uname = session.Run("uname -a", CommandTimeout);
        Assert.Contains("Linux", uname);
        Assert.Contains("6.1.0", uname);

        string cpuinfo = session.Run("cat /proc/cpuinfo", CommandTimeout);
        Assert.Equal(cpus, cpuinfo.Split('\n').Count(line => line.StartsWith("processor", StringComparison.Ordinal)));

        Assert.Contains("42", session.Run("echo $((6*7))", CommandTimeout));
        TheShellLineEditorWorks(session);
        Assert.Contains(expectedFpcheck, session.Run("fpcheck", CommandTimeout));

        GuestClockIsHostTime(session);
        SleepTakesItsWallTime(session);
        IdleGuestCostsLittleHostCpu(session, cpus);

        session.Type("reboot -f\n");
        Assert.True(session.WaitForExit(CommandTimeout), "vessel did not exit after reboot -f");
        Assert.Equal(0, session.ExitCode);
        Assert.Equal(session.AttributesBefore, session.Attributes());
    }

    /// <summary>Keys reach busybox's line editor as typed: Tab completes before any Enter, and a command line
    /// shows exactly once.</summary>
    private static void TheShellLineEditorWorks(GuestSession session)
    {
        session.Type("ech");
        session.Type("\t");
        session.WaitFor("echo ", CommandTimeout);      // completed by the guest, no Enter typed yet
        session.Type("tab-$((40+2))\r");
        Assert.Contains("tab-42", session.WaitFor("# ", CommandTimeout));

        const string command = "echo once-$((1+1))";
        session.Type(command + "\r");
        string screen = session.WaitFor("# ", CommandTimeout);
        Assert.Equal(1, Occurrences(screen, command));  // the guest's echo, no host echo beside it
        Assert.Contains("once-2", screen);
    }

    private static int Occurrences(string text, string what)
    {
        int count = 0;
        for (int at = text.IndexOf(what, StringComparison.Ordinal); at >= 0; at = text.IndexOf(what, at + what.Length, StringComparison.Ordinal))
            count++;
        return count;
    }

    /// <summary>`date` within 2 s of the host (the RTC and then the TSC carry host time into the guest).</summary>
    private void GuestClockIsHostTime(GuestSession session)
    {
        long before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string reply = session.Run("date +%s", CommandTimeout);
        long after = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        long guest = long.Parse(reply.Split('\n', StringSplitOptions.TrimEntries).First(l => l.Length > 0 && char.IsAsciiDigit(l[0])));
        output.WriteLine($"guest date {guest}, host {before}..{after}");
        Assert.InRange(guest, before - 2, after + 2);
    }

    /// <summary>`sleep 5` takes 5 s of wall time within 5 %. What `sleep 0` costs — the console round trip and
    /// the shell's fork and exec of busybox, ~0.1 s on the emulated CPU — is measured right before and taken off:
    /// it is the CPU's speed, not its timekeeping. A guest clock that runs fast ends the sleep early, whatever the
    /// load: the whole command may not take less than 4.75 s. One that runs slow makes it late, and so does a
    /// loaded machine, whose round trips vary by more than the 0.25 s allowed: the upper bound gets three tries,
    /// which a clock running 5 % slow fails every time.</summary>
    private void SleepTakesItsWallTime(GuestSession session)
    {
        session.Run("sleep 0", CommandTimeout); // the first run also decodes and compiles busybox's code
        var tries = new List<string>();
        for (int attempt = 0; attempt < 3; attempt++)
        {
            var clock = Stopwatch.StartNew();
            session.Run("sleep 0", CommandTimeout);
            double roundTrip = clock.Elapsed.TotalSeconds;
            clock.Restart();
            session.Run("sleep 5", CommandTimeout);
            double total = clock.Elapsed.TotalSeconds, slept = total - roundTrip;
            output.WriteLine($"sleep 5 took {slept:F3} s of wall time (`sleep 0`, {roundTrip:F3} s, taken off)");
            Assert.True(total >= 4.75, $"sleep 5 ended after {total:F3} s: the guest's clock runs fast");
            if (slept >= 4.75 && slept <= 5.25) return;
            tries.Add($"{slept:F3} s ({roundTrip:F3} s taken off)");
        }
        Assert.Fail($"sleep 5 took {string.Join(", ", tries)} of wall time (bound: 4.75-5.25 s)");
    }

    /// <summary>An idle guest at its shell prompt uses under 5 % of one host core: halted vCPUs sleep until
    /// their next timer. Measured as vessel's CPU time: this process's when the VM runs in it (the test itself waits),
    /// else the VESSEL_TEST_BINARY child's.</summary>
    private void IdleGuestCostsLittleHostCpu(GuestSession session, int cpus)
    {
        Thread.Sleep(TimeSpan.FromSeconds(2)); // let the command's echo and the shell settle
        TimeSpan cpuBefore = session.VesselCpuTime();
        var wall = Stopwatch.StartNew();
        Thread.Sleep(TimeSpan.FromSeconds(10));
        double share = (session.VesselCpuTime() - cpuBefore).TotalSeconds / wall.Elapsed.TotalSeconds;
        output.WriteLine($"idle guest with {cpus} vCPU(s): {share:P1} of one host core");
        Assert.True(share < 0.05, $"an idle guest used {share:P1} of a host core");
        Assert.Contains("idle", session.Run("echo idle", CommandTimeout)); // still alive after the wait
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
