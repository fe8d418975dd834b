using System.Runtime.InteropServices;

namespace Vessel.Hypervisor;

/// <summary>The libc calls behind <see cref="EventNotifier"/> and <see cref="EventNotifierPump"/>.</summary>
internal static unsafe partial class EventFdNative
{
    public const int EfdCloExec = 0x80000, EfdNonBlock = 0x800;
    public const short PollIn = 1;
    public const int EIntr = 4, EAgain = 11;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events, Revents;
    }

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initial, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, void* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, void* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);
}
