using System.Runtime.InteropServices;
using System.Text;

namespace Vessel.Cli.Tests.Pty;

/// <summary>A pseudo-terminal pair from openpty(3): the test holds the master (it types and reads the screen);
/// the child gets the slave as its controlling terminal and standard streams.</summary>
internal sealed unsafe partial class PseudoTerminal : IDisposable
{
    public const int TermiosSize = 60;

    private readonly StringBuilder _screen = new();
    private readonly object _lock = new();
    private readonly Thread? _reader;
    private int _closed;

    /// <param name="startReader">false when the caller reads the master itself</param>
    public PseudoTerminal(bool startReader = true)
    {
        int master, slave;
        if (openpty(&master, &slave, 0, 0, 0) != 0)
            throw new InvalidOperationException($"openpty failed: errno {Marshal.GetLastPInvokeError()}");
        Master = master;
        Slave = slave;
        SlavePath = File.ResolveLinkTarget($"/proc/self/fd/{slave}", false)!.FullName;
        if (!startReader) return;
        _reader = new Thread(ReadScreen) { IsBackground = true, Name = "pty reader" };
        _reader.Start();
    }

    public int Master { get; }
    public int Slave { get; }
    public string SlavePath { get; }

    /// <summary>Everything the child wrote to the terminal so far.</summary>
    public string Screen
    {
        get { lock (_lock) return _screen.ToString(); }
    }

    /// <summary>The slave's termios as raw bytes, to compare before and after a run.</summary>
    public byte[] Attributes()
    {
        var bytes = new byte[TermiosSize];
        fixed (byte* p = bytes)
            if (tcgetattr(Slave, p) != 0) throw new InvalidOperationException($"tcgetattr: errno {Marshal.GetLastPInvokeError()}");
        return bytes;
    }

    /// <summary>Types bytes as a user at the keyboard would.</summary>
    public void Type(ReadOnlySpan<byte> keys)
    {
        fixed (byte* p = keys)
            if (write(Master, p, (nuint)keys.Length) != keys.Length) throw new IOException("write to the pty master failed");
    }

    public void Type(string keys) => Type(Encoding.ASCII.GetBytes(keys));

    /// <summary>Waits until the screen holds <paramref name="text"/> (after <paramref name="from"/>); false on timeout.</summary>
    public bool WaitFor(string text, TimeSpan timeout, int from = 0)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_lock)
        {
            while (_screen.ToString().IndexOf(text, Math.Min(from, _screen.Length), StringComparison.Ordinal) < 0)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero) return false;
                Monitor.Wait(_lock, left);
            }
            return true;
        }
    }

    public int ScreenLength
    {
        get { lock (_lock) return _screen.Length; }
    }

    private void ReadScreen()
    {
        var buffer = new byte[4096];
        while (Volatile.Read(ref _closed) == 0)
        {
            nint n;
            fixed (byte* p = buffer) n = read(Master, p, (nuint)buffer.Length);
            if (n <= 0)
            {
                if (n < 0 && Marshal.GetLastPInvokeError() == 4) continue;
                return;
            }
            lock (_lock)
            {
                _screen.Append(Encoding.Latin1.GetString(buffer, 0, (int)n));
                Monitor.PulseAll(_lock);
            }
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        close(Slave);
        close(Master); // ends the reader's read with EIO/EBADF
        _reader?.Join(TimeSpan.FromSeconds(2));
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int openpty(int* master, int* slave, nint name, nint termios, nint winsize);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int tcgetattr(int fd, byte* termios);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint write(int fd, byte* buffer, nuint count);

    [LibraryImport("libc")]
    private static partial int close(int fd);
}
