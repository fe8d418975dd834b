using System.Diagnostics;
using System.IO.Pipes;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Vessel.Cli.Console;
using Vessel.Cli.Tests.Pty;

namespace Vessel.Cli.Tests.LinuxBoot;

/// <summary>`vessel run` with its console on pipes, or on a pseudo-terminal as a user at a terminal has it (raw
/// mode, Ctrl-A escapes): the test types commands into COM1 and waits for text to appear on it. The CLI runs in
/// this process, or, when VESSEL_TEST_BINARY names a binary (<see cref="TestBinary"/>), as that child process.</summary>
internal sealed class GuestSession : IDisposable
{
    private readonly Stream _stdinWriter;
    private readonly Stream? _stdinReader;
    private readonly Stream _stdoutReader;
    private readonly Stream? _stdoutWriter;
    private readonly PseudoTerminal? _terminal;
    private readonly MemoryStream _stderr = new();
    private readonly StringBuilder _console = new();
    private readonly object _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread? _vessel;
    private readonly Process? _child;
    private readonly Thread _reader;
    private int _consumed;
    private int? _exitCode;

    public GuestSession(IReadOnlyList<string> args, bool pty = false)
    {
        string? binary = TestBinary.Configured;
        var host = new CliHost { HandleSignals = false, Stop = _stop.Token };
        if (pty)
        {
            // vessel gets the slave as its terminal; the test types into and reads the master.
            _terminal = new PseudoTerminal(startReader: false);
            AttributesBefore = _terminal.Attributes();
            _stdinWriter = new FileStream(new SafeFileHandle(_terminal.Master, ownsHandle: false), FileAccess.Write, 0);
            _stdoutReader = new FileStream(new SafeFileHandle(_terminal.Master, ownsHandle: false), FileAccess.Read, 0);
            if (binary is null)
            {
                _stdinReader = new FdInputStream(_terminal.Slave);
                _stdoutWriter = new FileStream(new SafeFileHandle(_terminal.Slave, ownsHandle: false), FileAccess.Write, 0);
                host = host with { StdinIsTerminal = true, StdinFd = _terminal.Slave };
            }
            else
                _child = VesselChild.OnTerminal(binary, args, _terminal.SlavePath, _stderr);
        }
        else if (binary is not null)
        {
            _child = VesselChild.OnPipes(binary, args, _stderr);
            _stdinWriter = _child.StandardInput.BaseStream;
            _stdoutReader = _child.StandardOutput.BaseStream;
        }
        else
        {
            var stdin = new AnonymousPipeServerStream(PipeDirection.Out);
            var stdout = new AnonymousPipeServerStream(PipeDirection.In);
            _stdinWriter = stdin;
            _stdinReader = new AnonymousPipeClientStream(PipeDirection.In, stdin.ClientSafePipeHandle);
            _stdoutReader = stdout;
            _stdoutWriter = new AnonymousPipeClientStream(PipeDirection.Out, stdout.ClientSafePipeHandle);
        }
        if (_child is null)
        {
            _vessel = new Thread(() =>
            {
                _exitCode = VesselCli.Run(args, _stdinReader!, _stdoutWriter!, _stderr, host);
                if (_terminal is null) _stdoutWriter!.Dispose(); // ends the reader (a pty's reader ends at Dispose)
            }) { IsBackground = true, Name = "vessel run" };
            _vessel.Start();
        }
        _reader = new Thread(ReadConsole) { IsBackground = true, Name = "console reader" };
        _reader.Start();
    }

    /// <summary>Host CPU time vessel has used so far: this process's when it runs in process (the test itself
    /// waits meanwhile), else the child's.</summary>
    public TimeSpan VesselCpuTime()
    {
        if (_child is null)
        {
            using var self = Process.GetCurrentProcess();
            return self.TotalProcessorTime;
        }
        _child.Refresh();
        return _child.TotalProcessorTime;
    }

    private bool VesselRuns => _child is null ? _vessel!.IsAlive : !_child.HasExited;

    public int? ExitCode => _child is null ? _exitCode : _child.HasExited ? _child.ExitCode : null;

    /// <summary>In pty mode, the terminal's settings before vessel ran, and now.</summary>
    public byte[]? AttributesBefore { get; }
    public byte[]? Attributes() => _terminal?.Attributes();

    public string Console
    {
        get { lock (_lock) return _console.ToString(); }
    }

    public string Stderr
    {
        get { lock (_stderr) return Encoding.UTF8.GetString(_stderr.ToArray()); }
    }

    private void ReadConsole()
    {
        var buffer = new byte[4096];
        try
        {
            int n;
            while ((n = _stdoutReader.Read(buffer)) > 0)
            {
                string text = Encoding.UTF8.GetString(buffer, 0, n);
                lock (_lock)
                {
                    _console.Append(text);
                    Monitor.PulseAll(_lock);
                }
            }
        }
        catch (IOException)
        {
        }
        lock (_lock) Monitor.PulseAll(_lock);
    }

    /// <summary>Waits until <paramref name="text"/> appears after everything already consumed and returns the
    /// console text up to and including it.</summary>
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
                if (left <= TimeSpan.Zero || !VesselRuns && !_reader.IsAlive)
                    throw new TimeoutException($"'{text}' did not appear within {timeout}; console tail:\n{Tail()}\nstderr:\n{Stderr}");
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

    /// <summary>Everything after what was consumed so far, without consuming it.</summary>
    public string Unconsumed
    {
        get { lock (_lock) return _console.ToString(_consumed, _console.Length - _consumed); }
    }

    public void Type(string text)
    {
        _stdinWriter.Write(Encoding.ASCII.GetBytes(text));
        _stdinWriter.Flush();
    }

    public bool WaitForExit(TimeSpan timeout) => _child?.WaitForExit(timeout) ?? _vessel!.Join(timeout);

    private string Tail()
    {
        string all = _console.ToString();
        return all.Length > 3000 ? all[^3000..] : all;
    }

    /// <summary>Stops the VM if it still runs (a test that failed half-way), without hiding that failure.</summary>
    public void Dispose()
    {
        _stdinWriter.Dispose();
        _stop.Cancel();
        bool stopped = _child is null ? _vessel!.Join(TimeSpan.FromSeconds(30)) : VesselChild.Stop(_child, TimeSpan.FromSeconds(30));
        if (!stopped)
            System.Console.Error.WriteLine("GuestSession: vessel did not stop within 30 s of being told to");
        _terminal?.Dispose(); // closing the slave ends the reader of the master
        _reader.Join(TimeSpan.FromSeconds(5));
        _stdinReader?.Dispose();
        _stdoutReader.Dispose();
        _child?.Dispose();
        _stop.Dispose();
    }
}
