using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Vessel.Cli;

/// <summary>Reads a file named on the command line (kernel, initrd). It must be a regular file: a device such as
/// /dev/zero would be read for ever and a FIFO would block the open. It is read with the size stat gave as the
/// bound. Every failure is a <see cref="CliException"/> naming the file and the option.</summary>
public static partial class InputFile
{
    /// <summary>The largest file read: a .NET array's limit, and far beyond what a guest's RAM would take.</summary>
    public const long MaxBytes = 0x7FFF_FFC7;

    public static byte[] Read(string option, string path, long maxBytes = MaxBytes)
    {
        byte[]? bytes = null;
        ReadInto(option, path, maxBytes, length => bytes = new byte[length]);
        return bytes!;
    }

    /// <summary><see cref="Read"/> into a <see cref="FileImage"/>, which the caller disposes once it has used the
    /// bytes (a kernel or initrd, copied into guest RAM when the machine is built).</summary>
    public static FileImage ReadImage(string option, string path)
    {
        FileImage? image = null;
        try
        {
            ReadInto(option, path, MaxBytes, length => (image = new FileImage(length)).Memory);
            return image!;
        }
        catch
        {
            image?.Dispose();
            throw;
        }
    }

    /// <summary>Reads the whole file into the memory <paramref name="allocate"/> returns for its length.</summary>
    private static void ReadInto(string option, string path, long maxBytes, Func<int, Memory<byte>> allocate)
    {
        CheckRegularFile(option, path);
        try
        {
            using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            long length = RandomAccess.GetLength(handle);
            if (length > maxBytes)
                throw CliException.Runtime($"{path}: {option} file is too large ({length} bytes; at most {maxBytes})");
            Memory<byte> bytes = allocate((int)length);
            int done = 0;
            while (done < bytes.Length)
            {
                int n = RandomAccess.Read(handle, bytes.Span[done..], done);
                if (n == 0) throw CliException.Runtime($"{path}: {option} file shrank while it was read");
                done += n;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw CliException.Runtime($"{path}: cannot read the {option} file: {ex.Message}");
        }
    }

    /// <summary>Throws unless <paramref name="path"/> names (through symbolic links) an existing regular file.</summary>
    public static void CheckRegularFile(string option, string path)
    {
        if (path.Length == 0) throw CliException.Usage($"{option} needs a file name");
        uint mode;
        unsafe
        {
            StatBuffer buffer;
            if (StatNative.stat(path, &buffer) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                throw CliException.Runtime(errno switch
                {
                    Enoent or Enotdir => $"{path}: no such file ({option})",
                    Eacces => $"{path}: permission denied ({option})",
                    _ => $"{path}: cannot read the {option} file: {Marshal.GetPInvokeErrorMessage(errno)}",
                });
            }
            mode = buffer.Mode;
        }
        string? kind = (mode & FileTypeMask) switch
        {
            RegularFile => null,
            Directory => "a directory",
            CharacterDevice => "a character device",
            BlockDevice => "a block device",
            Fifo => "a FIFO",
            Socket => "a socket",
            _ => "not a regular file",
        };
        if (kind is not null)
            throw CliException.Runtime($"{path}: {option} needs a regular file, and this is {kind}");
    }

    private const int Enoent = 2, Eacces = 13, Enotdir = 20;
    private const uint FileTypeMask = 0xF000, Fifo = 0x1000, CharacterDevice = 0x2000, Directory = 0x4000,
        BlockDevice = 0x6000, RegularFile = 0x8000, Socket = 0xC000;

    /// <summary>struct stat on x86-64 glibc is 144 bytes; only st_mode (offset 24) is read here.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 144)]
    private struct StatBuffer
    {
        [FieldOffset(24)] public uint Mode;
    }

    private static unsafe partial class StatNative
    {
        // glibc exports stat since 2.33 (Debian 12, Ubuntu 22.04).
        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int stat(string path, StatBuffer* buffer);
    }
}
