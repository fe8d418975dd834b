using System.Runtime.InteropServices;

namespace Vessel.Kvm;

/// <summary>The libc calls the kvm backend makes.</summary>
internal static unsafe partial class KvmNative
{
    public const int ORdWr = 2, OCloExec = 0x80000;
    public const int ProtRead = 1, ProtWrite = 2, ProtExec = 4;
    public const int MapShared = 0x01, MapPrivate = 0x02, MapAnonymous = 0x20;
    public static readonly nint MapFailed = -1;

    public const int EIntr = 4, EAgain = 11, ENoEnt = 2, EAcces = 13, EBusy = 16, EPerm = 1, ENoDev = 19, ENxio = 6, E2Big = 7;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, nint argument);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, void* argument);

    /// <summary>The address of libc's ioctl, for KVM_RUN: called through it without SetLastError's bookkeeping
    /// (two calls into the runtime's errno helpers around every call, once per exit) and without the PLT. The
    /// caller reads errno (Marshal.GetLastSystemError) right after, and only when the call failed, as the
    /// generated SetLastError code itself does.</summary>
    public static readonly delegate* unmanaged<int, nuint, nint, int> IoctlEntryPoint =
        (delegate* unmanaged<int, nuint, nint, int>)NativeLibrary.GetExport(NativeLibrary.Load("libc.so.6"), "ioctl");

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint addr, nuint length);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    public static partial int Mprotect(nint addr, nuint length, int prot);

    [LibraryImport("libc", EntryPoint = "gettid")]
    public static partial int GetTid();

    [LibraryImport("libc", EntryPoint = "tgkill", SetLastError = true)]
    public static partial int TgKill(int tgid, int tid, int signal);

    [LibraryImport("libc", EntryPoint = "sigaction", SetLastError = true)]
    public static partial int SigAction(int signal, SigActionStruct* action, SigActionStruct* oldAction);

    [LibraryImport("libc", EntryPoint = "strerror")]
    private static partial nint StrError(int errno);

    public static string Describe(int errno) => $"{Marshal.PtrToStringUTF8(StrError(errno)) ?? "error"} (errno {errno})";
}

/// <summary>glibc's struct sigaction on x86-64.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct SigActionStruct
{
    public nint Handler;
    public fixed ulong Mask[16];
    public int Flags;
    public int Pad;
    public nint Restorer;
}
