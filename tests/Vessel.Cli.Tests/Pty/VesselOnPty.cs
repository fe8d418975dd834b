using System.Diagnostics;

namespace Vessel.Cli.Tests.Pty;

/// <summary>The real `vessel` executable started in a session of its own whose controlling terminal, stdin,
/// stdout and stderr are the slave of a fresh pseudo-terminal, as when a user runs it in a terminal window.</summary>
internal sealed class VesselOnPty : IDisposable
{
    private readonly Process _process;

    public VesselOnPty(params string[] args)
    {
        Terminal = new PseudoTerminal();
        AttributesBefore = Terminal.Attributes();
        string vessel = Path.Combine(AppContext.BaseDirectory, "vessel");
        // setsid(1) makes the new session; opening the slave by name then makes it the controlling terminal.
        // env resets the signals vessel handles to their defaults, as a user's terminal has them: a test host
        // started under nohup (or by a runner that ignores SIGHUP) would pass on an ignored SIGHUP, which
        // survives exec and which .NET then leaves ignored.
        var start = new ProcessStartInfo("setsid")
        {
            UseShellExecute = false,
            Environment = { ["VESSEL_TTY"] = Terminal.SlavePath },
        };
        foreach (string arg in (string[])["env", "--default-signal=HUP,INT,TERM", "sh", "-c", "exec \"$0\" \"$@\" <\"$VESSEL_TTY\" >\"$VESSEL_TTY\" 2>&1", vessel, .. args])
            start.ArgumentList.Add(arg);
        _process = Process.Start(start) ?? throw new InvalidOperationException("cannot start setsid");
    }

    public PseudoTerminal Terminal { get; }
    public byte[] AttributesBefore { get; }
    public int Pid => _process.Id;
    public int ExitCode => _process.ExitCode;
    public bool HasExited => _process.HasExited;

    public bool WaitForExit(TimeSpan timeout) => _process.WaitForExit(timeout);

    /// <summary>Waits for the guest's ready mark, failing with the screen so far.</summary>
    public void WaitForReady(TimeSpan timeout)
    {
        if (!Terminal.WaitFor(ConsoleGuests.Ready, timeout))
            Assert.Fail($"the guest did not start; screen: {Terminal.Screen}");
    }

    /// <summary>Sends a signal to vessel (kill(1): the test host's own signal handling stays out of it).</summary>
    public void Signal(string name)
    {
        using var kill = Process.Start("kill", ["-" + name, Pid.ToString()])!;
        kill.WaitForExit();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit(5000);
        }
        _process.Dispose();
        Terminal.Dispose();
    }
}
