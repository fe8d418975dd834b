using System.Buffers;
using System.Runtime.InteropServices;

namespace Vessel.Cli;

/// <summary>The bytes of a kernel or initrd file, held in an anonymous mapping of their own rather than in a managed
/// array, so that they leave the process the moment the machine is built (<see cref="Dispose"/> unmaps them). A
/// large managed array stays in the GC's large-object heap until a full collection, and its pages stay committed
/// after it: the 10.8 MiB of the Debian guest's kernel and initrd were still resident at the boot's peak.</summary>
public sealed unsafe partial class FileImage : MemoryManager<byte>
{
    private byte* _bytes;
    private readonly int _length;
    private readonly nuint _mappedBytes;

    /// <summary>A zeroed, writable image of <paramref name="length"/> bytes, for the caller to fill.</summary>
    public FileImage(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _length = length;
        if (length == 0) return;
        _mappedBytes = (nuint)length;
        nint at = Mmap(0, _mappedBytes, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (at == -1)
            throw new InsufficientMemoryException($"cannot map {length} bytes for a file image: errno {Marshal.GetLastPInvokeError()}");
        _bytes = (byte*)at;
    }

    public int Length => _length;

    public bool IsDisposed { get; private set; }

    public override Span<byte> GetSpan()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return new Span<byte>(_bytes, _length);
    }

    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if ((uint)elementIndex > (uint)_length) throw new ArgumentOutOfRangeException(nameof(elementIndex));
        return new MemoryHandle(_bytes + elementIndex);
    }

    public override void Unpin() { }

    /// <summary>Unmaps the bytes (MemoryManager implements IDisposable explicitly).</summary>
    public void Dispose() => ((IDisposable)this).Dispose();

    protected override void Dispose(bool disposing)
    {
        if (IsDisposed) return;
        IsDisposed = true;
        if (_bytes != null) Munmap((nint)_bytes, _mappedBytes);
        _bytes = null;
    }

    private const int ProtRead = 1, ProtWrite = 2, MapPrivate = 0x02, MapAnonymous = 0x20;

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Munmap(nint addr, nuint length);
}
