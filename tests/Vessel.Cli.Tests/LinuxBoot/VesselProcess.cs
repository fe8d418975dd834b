using System.Diagnostics;
using System.Text;

namespace Vessel.Cli.Tests.LinuxBoot;

/// <summary>`vessel run` as a child process (VESSEL_TEST_BINARY, else the apphost next to the tests), so a test can SIGKILL it: what
/// the guest flushed must be in its disk image even when the VMM dies without a chance to clean up.</summary>
internal sealed class VesselProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _console = new();
    private readonly object _lock = new();
    private int _consumed;

    /// <param name="networkNamespace">Runs vessel inside this network namespace (`ip netns exec`, which execs it: the
    /// process is vessel itself).</param>
    public VesselProcess(IReadOnlyList<string> args, string? networkNamespace = null)
    {
        string vessel = TestBinary.ForChildProcess;
        var start = networkNamespace is null
            ? new ProcessStartInfo(vessel, args)
            : new ProcessStartInfo("ip", ["netns", "exec", networkNamespace, vessel, .. args]);
        start.RedirectStandardInput = true;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        _process = Process.Start(start) ?? throw new InvalidOperationException("vessel did not start");
        _process.ErrorDataReceived += (_, e) => Append(e.Data is null ? null : "[stderr] " + e.Data + "\n");
        _process.BeginErrorReadLine();
        // Unbuffered, so a prompt without a newline is seen.
        new Thread(() =>
        {
            var buffer = new byte[4096];
            int n;
            while ((n = _process.StandardOutput.BaseStream.Read(buffer)) > 0) Append(Encoding.UTF8.GetString(buffer, 0, n));
            Append(null);
        }) { IsBackground = true, Name = "vessel output" }.Start();
    }

    private void Append(string? text)
    {
        lock (_lock)
        {
            if (text is not null) _console.Append(text);
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>Waits for <paramref name="text"/> after what was already consumed.</summary>
    public string WaitFor(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_lock)
        {
            while (true)
            {
                int at = _console.ToString().IndexOf(text, _consumed, StringComparison.Ordinal);
                if (at >= 0)
                {
                    string seen = _console.ToString(_consumed, at + text.Length - _consumed);
                    _consumed = at + text.Length;
                    return seen;
                }
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || _process.HasExited)
                {
                    string all = _console.ToString();
                    throw new TimeoutException($"'{text}' did not appear within {timeout}; output tail:\n{(all.Length > 3000 ? all[^3000..] : all)}");
                }
                Monitor.Wait(_lock, left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1));
            }
        }
    }

    /// <summary>Types a command line, then returns its output: what the guest prints up to the next prompt.</summary>
    public string Run(string command, TimeSpan timeout)
    {
        Type(command + "\n");
        WaitFor(command, timeout); // the echo
        return WaitFor("# ", timeout);
    }

    public bool WaitForExit(TimeSpan timeout) => _process.WaitForExit(timeout);

    public void Type(string text)
    {
        _process.StandardInput.Write(text);
        _process.StandardInput.Flush();
    }

    /// <summary>SIGKILL: no exit path of vessel runs.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: false);
        _process.WaitForExit();
    }

    public int ExitCode => _process.ExitCode;

    public void Dispose()
    {
        if (!_process.HasExited) Kill();
        _process.Dispose();
    }
}
