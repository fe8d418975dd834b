using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Vessel.Cli.Api;

/// <summary>Opens the logger's and the metrics' file as Firecracker does (read and write, non-blocking, appending,
/// created if missing): a named pipe with no reader yet neither blocks the request that names it (a write-only open
/// of a FIFO waits for a reader) nor, later, a write (a full pipe refuses it, and the line is dropped).</summary>
internal static partial class AppendFile
{
    private const int ReadWrite = 0x2, Create = 0x40, Append = 0x400, NonBlock = 0x800, CloseOnExec = 0x80000;

    public static Stream Open(string field, string path)
    {
        int fd = OpenFile(path, ReadWrite | Create | Append | NonBlock | CloseOnExec, 0x1A4 /* 0644 */);
        if (fd < 0)
            throw VmResources.Fault($"{path}: cannot open the {field} file: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            return new FileStream(handle, FileAccess.Write, 1);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            handle.Dispose();
            throw VmResources.Fault($"{path}: cannot open the {field} file: {ex.Message}");
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenFile(string path, int flags, int mode);
}
