using System.Runtime.InteropServices;

namespace Vessel.Cli.Console;

/// <summary>Puts a terminal in raw mode (keys go to the guest as typed: no echo, no line editing, Ctrl-C is a
/// byte) and restores the saved settings on Dispose, which is idempotent and safe from a signal handler or
/// ProcessExit. Output post-processing stays on, as QEMU keeps it, so the host terminal is not staircased.</summary>
public sealed unsafe class TerminalRawMode : IDisposable
{
    private readonly int _fd;
    private readonly Termios _saved;
    private int _restored;

    private TerminalRawMode(int fd, Termios saved)
    {
        _fd = fd;
        _saved = saved;
    }

    public static bool IsTerminal(int fd) => TermiosNative.isatty(fd) == 1;

    public static TerminalRawMode Enter(int fd)
    {
        Termios saved;
        if (TermiosNative.tcgetattr(fd, &saved) != 0)
            throw new IOException($"tcgetattr({fd}) failed: errno {Marshal.GetLastPInvokeError()}");
        Termios raw = saved;
        TermiosNative.cfmakeraw(&raw);
        raw.OutputFlags |= Termios.Opost;
        if (TermiosNative.tcsetattr(fd, TermiosNative.Tcsanow, &raw) != 0)
            throw new IOException($"tcsetattr({fd}) failed: errno {Marshal.GetLastPInvokeError()}");
        return new TerminalRawMode(fd, saved);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _restored, 1) != 0) return;
        Termios saved = _saved;
        TermiosNative.tcsetattr(_fd, TermiosNative.Tcsanow, &saved);
    }
}
