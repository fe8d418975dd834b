using System.Runtime.InteropServices;

namespace Vessel.Cli.Console;

/// <summary>struct termios as glibc lays it out on x86-64 (60 bytes; NCCS = 32).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct Termios
{
    public uint InputFlags;    // c_iflag
    public uint OutputFlags;   // c_oflag
    public uint ControlFlags;  // c_cflag
    public uint LocalFlags;    // c_lflag
    public byte LineDiscipline; // c_line
    public fixed byte ControlChars[32]; // c_cc
    public uint InputSpeed;    // c_ispeed
    public uint OutputSpeed;   // c_ospeed

    public const uint Opost = 0x1;      // c_oflag: post-process output (turn "\n" into "\r\n")
    public const uint Icanon = 0x2, Echo = 0x8, Isig = 0x1; // c_lflag
}

internal static unsafe partial class TermiosNative
{
    public const int Tcsanow = 0;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int isatty(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int tcgetattr(int fd, Termios* termios);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int tcsetattr(int fd, int optionalActions, Termios* termios);

    [LibraryImport("libc")]
    public static partial void cfmakeraw(Termios* termios);
}
