using System.Runtime.InteropServices;

namespace Vessel.Cli.Console;

/// <summary>Standard output or error written with write(2) on the descriptor itself. Not a FileStream: on a
/// regular file that keeps its own offset and writes at it, clobbering what stdout and stderr sharing one file
/// (2>&1, >>) wrote. Not System.Console's stream, to keep .NET's terminal handling out entirely. A reader that
/// went away (EPIPE) drops the output, as Console does, rather than failing the VM.</summary>
public sealed unsafe class FdOutputStream(int fd) : Stream
{
    private const int Epipe = 32;

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            nint n;
            fixed (byte* p = buffer) n = PosixIo.write(fd, p, (nuint)buffer.Length);
            if (n > 0)
            {
                buffer = buffer[(int)n..];
                continue;
            }
            int errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
            if (errno == PosixIo.Eintr) continue;
            if (errno == PosixIo.Eagain)
            {
                // A descriptor someone made non-blocking: wait until it takes more.
                var pollFd = new PosixIo.PollFd { Fd = fd, Events = PosixIo.PollOut };
                PosixIo.poll(&pollFd, 1, 100);
                continue;
            }
            if (errno == Epipe) return;
            throw new IOException($"write to descriptor {fd} failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
