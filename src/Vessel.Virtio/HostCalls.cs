using System.Runtime.InteropServices;

namespace Vessel.Virtio;

/// <summary>The few libc calls .NET does not expose: fdatasync, fallocate (hole punching), getrandom.</summary>
internal static unsafe partial class HostCalls
{
    public const int FallocKeepSize = 0x01, FallocPunchHole = 0x02, FallocZeroRange = 0x10;
    public const int EINTR = 4, EOPNOTSUPP = 95;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fdatasync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fallocate(int fd, int mode, long offset, long length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint preadv(int fd, IoVector* iov, int count, long offset);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint pwritev(int fd, IoVector* iov, int count, long offset);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint getrandom(byte* buffer, nuint length, uint flags);
}

/// <summary>struct iovec.</summary>
public struct IoVector
{
    public nint Base;
    public nuint Length;
}
