using System.Diagnostics;
using System.Text;

namespace Vessel.Cli.Tests.LinuxBoot;

/// <summary>Starts a `vessel` binary for <see cref="GuestSession"/>: on pipes, or in a session of its own whose
/// controlling terminal, stdin and stdout are a pseudo-terminal's slave (as a user's terminal; stderr stays a pipe,
/// so log lines never mix into the console the test reads). Its stderr is appended to a buffer the caller
/// reads under a lock on that buffer.</summary>
internal static class VesselChild
{
    public static Process OnPipes(string binary, IReadOnlyList<string> args, MemoryStream stderr)
    {
        var start = new ProcessStartInfo(binary, args)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        return Start(start, stderr);
    }

    public static Process OnTerminal(string binary, IReadOnlyList<string> args, string slavePath, MemoryStream stderr)
    {
        // setsid(1) makes the new session; opening the slave by name then makes it the controlling terminal.
        // Neither setsid (the child is no group leader) nor sh's exec forks: the process is vessel itself.
        var start = new ProcessStartInfo("setsid")
        {
            RedirectStandardError = true,
            Environment = { ["VESSEL_TTY"] = slavePath },
        };
        foreach (string arg in (string[])["sh", "-c", "exec \"$0\" \"$@\" <\"$VESSEL_TTY\" >\"$VESSEL_TTY\"", binary, .. args])
            start.ArgumentList.Add(arg);
        return Start(start, stderr);
    }

    private static Process Start(ProcessStartInfo start, MemoryStream stderr)
    {
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{start.FileName} did not start");
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stderr) stderr.Write(Encoding.UTF8.GetBytes(e.Data + "\n"));
        };
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>SIGTERM (vessel stops the VM cleanly and restores the terminal), then SIGKILL if that took longer
    /// than <paramref name="timeout"/>; false in that case.</summary>
    public static bool Stop(Process process, TimeSpan timeout)
    {
        if (process.HasExited) return true;
        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()])!)
            kill.WaitForExit();
        if (process.WaitForExit(timeout)) return true;
        process.Kill();
        process.WaitForExit();
        return false;
    }
}
