using System.Runtime.InteropServices;

namespace Vessel.Virtio.Net.Backends;

/// <summary>The libc calls the network backends need and .NET does not expose on a raw descriptor.</summary>
internal static unsafe partial class NetHostCalls
{
    public const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000;
    public const int F_SETFD = 2, SHUT_RDWR = 2;
    public const int O_RDWR = 2, O_CLOEXEC = 0x80000;
    public const int EINTR = 4, EAGAIN = 11, EBADF = 9, ENOENT = 2, ENODEV = 19, EPERM = 1, EBUSY = 16, EINVAL = 22;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socketpair(int domain, int type, int protocol, int* fds);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial uint if_nametoindex(string name);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fcntl(int fd, int command, int argument);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint read(int fd, byte* buffer, nint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint write(int fd, byte* buffer, nint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int shutdown(int fd, int how);

    public const int MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000;

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint send(int fd, byte* buffer, nint count, int flags);

    public const short POLLIN = 1, POLLOUT = 4;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events, Revents;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    private const int SOL_SOCKET = 1, SO_SNDBUF = 7, SO_SNDBUFFORCE = 32;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setsockopt(int fd, int level, int name, int* value, uint length);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getsockopt(int fd, int level, int name, int* value, uint* length);

    /// <summary>Asks for a send buffer of <paramref name="bytes"/> (Linux doubles it, within net.core.wmem_max) and
    /// returns the size the socket has now, or 0 if it cannot be read.</summary>
    public static int SetSendBuffer(int fd, int bytes)
    {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(int));
        int size = 0;
        uint length = sizeof(int);
        return getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &length) == 0 ? size : 0;
    }

    /// <summary>Asks for a send buffer of <paramref name="bytes"/> and, where net.core.wmem_max holds it lower, for
    /// the same past that limit (SO_SNDBUFFORCE: only with CAP_NET_ADMIN, refused otherwise); returns the size the
    /// socket has now (Linux doubles what it is given), or 0 if it cannot be read.</summary>
    public static int RaiseSendBuffer(int fd, int bytes)
    {
        int size = SetSendBuffer(fd, bytes);
        if (size >= 2 * bytes)
            return size;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(int));
        uint length = sizeof(int);
        return getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &length) == 0 ? size : 0;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ioctl(int fd, nuint request, void* argument);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ioctl(int fd, nuint request, nuint argument);

    /// <summary>Reads up to <paramref name="buffer"/>.Length bytes (retrying EINTR): the count, 0 at end of stream, -1 on error.</summary>
    public static int ReadSome(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                nint n = read(fd, p, buffer.Length);
                if (n >= 0) return (int)n;
                if (Marshal.GetLastPInvokeError() != EINTR) return -1;
            }
        }
    }
}
