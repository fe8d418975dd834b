using System.Runtime.InteropServices;

namespace Vessel.Cli.Console;

/// <summary>Standard input read with read(2) on the file descriptor itself, byte by byte as it arrives.
/// Not System.Console's stream: on a terminal that one reads through .NET's own line editor (it echoes, waits
/// for Enter and re-enables the terminal's signal keys), which is what made the console line-buffered.
/// Reads wait in poll(2) with a timeout so <see cref="Cancel"/> ends them; EOF, a hang-up or an error read
/// as the end of input.</summary>
public sealed unsafe class FdInputStream(int fd) : Stream
{
    private static readonly TimeSpan CancelPoll = TimeSpan.FromMilliseconds(100);

    private volatile bool _cancelled;

    public int Fd => fd;

    /// <summary>Makes every read in progress or to come return end of input within <see cref="CancelPoll"/>.</summary>
    public void Cancel() => _cancelled = true;

    /// <summary>True once the descriptor has bytes (or EOF) to read; false after <paramref name="timeout"/>.</summary>
    public bool WaitReadable(TimeSpan timeout)
    {
        var pollFd = new PosixIo.PollFd { Fd = fd, Events = PosixIo.PollIn };
        int ready = PosixIo.poll(&pollFd, 1, (int)timeout.TotalMilliseconds);
        return ready > 0 || (ready < 0 && Marshal.GetLastPInvokeError() != PosixIo.Eintr);
    }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        while (!_cancelled)
        {
            if (!WaitReadable(CancelPoll)) continue;
            if (_cancelled) return 0;
            nint n;
            fixed (byte* p = buffer) n = PosixIo.read(fd, p, (nuint)buffer.Length);
            if (n >= 0) return (int)n;
            int errno = Marshal.GetLastPInvokeError();
            if (errno is PosixIo.Eintr or PosixIo.Eagain) continue;
            return 0; // EIO after a hang-up, EBADF: the console is gone
        }
        return 0;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
