using Microsoft.Win32.SafeHandles;

namespace Vessel.Virtio.Block;

/// <summary>A raw disk image file: positioned reads and writes (pread/pwrite), fdatasync, and hole punching.
/// Every method reports failure by its result, never by throwing, so a host I/O error becomes the guest's
/// VIRTIO_BLK_S_IOERR. Used by one worker thread at a time.</summary>
public sealed class DiskImage : IDisposable
{
    public const int SectorSize = 512;

    /// <summary>IOV_MAX on Linux: the most buffers one preadv/pwritev takes.</summary>
    public const int MaxVectors = 1024;

    private static readonly byte[] Zeros = new byte[64 * 1024];
    private readonly SafeFileHandle _handle;

    private DiskImage(string path, SafeFileHandle handle, long length, bool readOnly)
    {
        Path = path;
        _handle = handle;
        Length = length;
        ReadOnly = readOnly;
    }

    public string Path { get; }
    public long Length { get; }
    public bool ReadOnly { get; }

    /// <summary>Whole sectors of the image (a partial last sector is not part of the disk).</summary>
    public ulong CapacitySectors => (ulong)Length / SectorSize;

    /// <summary>Opens <paramref name="path"/>; a missing or unusable file is a <see cref="DiskImageException"/>.</summary>
    public static DiskImage Open(string path, bool readOnly)
    {
        SafeFileHandle handle;
        try
        {
            if (Directory.Exists(path))
                throw new DiskImageException($"disk image {path} is a directory");
            handle = File.OpenHandle(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite,
                readOnly ? FileShare.ReadWrite : FileShare.Read);
        }
        catch (FileNotFoundException e) { throw new DiskImageException($"disk image {path} does not exist", e); }
        catch (DirectoryNotFoundException e) { throw new DiskImageException($"disk image {path} does not exist", e); }
        catch (UnauthorizedAccessException e)
        {
            throw new DiskImageException($"disk image {path} cannot be opened for {(readOnly ? "reading" : "writing")} (permission denied{(readOnly ? "" : "; add ,readonly?")})", e);
        }
        catch (IOException e) { throw new DiskImageException($"disk image {path} cannot be opened: {e.Message}", e); }
        try
        {
            return new DiskImage(path, handle, RandomAccess.GetLength(handle), readOnly);
        }
        catch (IOException e)
        {
            handle.Dispose();
            throw new DiskImageException($"disk image {path} cannot be sized: {e.Message}", e);
        }
    }

    public bool TryRead(Span<byte> destination, long offset)
    {
        try
        {
            while (!destination.IsEmpty)
            {
                int n = RandomAccess.Read(_handle, destination, offset);
                if (n <= 0)
                    return false; // the file shrank under us
                destination = destination[n..];
                offset += n;
            }
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public bool TryWrite(ReadOnlySpan<byte> source, long offset)
    {
        if (ReadOnly)
            return false;
        try
        {
            RandomAccess.Write(_handle, source, offset);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>preadv: fills every buffer of <paramref name="vectors"/> from <paramref name="offset"/> on, in as few
    /// system calls as the kernel allows. <paramref name="vectors"/> is consumed (advanced past what was done).</summary>
    public bool TryReadVector(Span<IoVector> vectors, long offset) => TryTransferVector(vectors, offset, write: false);

    /// <summary>pwritev: writes every buffer of <paramref name="vectors"/> at <paramref name="offset"/> on.</summary>
    public bool TryWriteVector(Span<IoVector> vectors, long offset) => !ReadOnly && TryTransferVector(vectors, offset, write: true);

    private unsafe bool TryTransferVector(Span<IoVector> vectors, long offset, bool write)
    {
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            int fd = (int)_handle.DangerousGetHandle();
            while (true)
            {
                while (!vectors.IsEmpty && vectors[0].Length == 0)
                    vectors = vectors[1..];
                if (vectors.IsEmpty)
                    return true;
                nint done;
                fixed (IoVector* iov = vectors)
                {
                    int count = Math.Min(vectors.Length, MaxVectors);
                    done = write ? HostCalls.pwritev(fd, iov, count, offset) : HostCalls.preadv(fd, iov, count, offset);
                }
                if (done < 0)
                {
                    if (System.Runtime.InteropServices.Marshal.GetLastPInvokeError() == HostCalls.EINTR)
                        continue;
                    return false;
                }
                if (done == 0)
                    return false; // end of file: the image shrank under us
                offset += done;
                // Advance past what was transferred (a short transfer can end inside a buffer).
                nuint left = (nuint)done;
                while (left > 0)
                {
                    ref IoVector v = ref vectors[0];
                    if (left < v.Length)
                    {
                        v.Base += (nint)left;
                        v.Length -= left;
                        break;
                    }
                    left -= v.Length;
                    vectors = vectors[1..];
                }
            }
        }
        finally
        {
            if (added)
                _handle.DangerousRelease();
        }
    }

    /// <summary>fdatasync: data written so far survives the VMM being killed or the host crashing.</summary>
    public bool TryFlush()
    {
        if (ReadOnly)
            return true;
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            int fd = (int)_handle.DangerousGetHandle();
            while (true)
            {
                if (HostCalls.fdatasync(fd) == 0)
                    return true;
                if (System.Runtime.InteropServices.Marshal.GetLastPInvokeError() != HostCalls.EINTR)
                    return false;
            }
        }
        finally
        {
            if (added)
                _handle.DangerousRelease();
        }
    }

    /// <summary>Deallocates [offset, offset+length) so it reads back as zeros, keeping the file size. When the file
    /// system cannot punch holes, writes zeros if <paramref name="mustZero"/> (write-zeroes), else does nothing
    /// (discard is a hint).</summary>
    public bool TryPunchHole(long offset, long length, bool mustZero) =>
        TryFallocate(HostCalls.FallocPunchHole | HostCalls.FallocKeepSize, offset, length, mustZero);

    /// <summary>Zeroes [offset, offset+length) keeping its blocks allocated (FALLOC_FL_ZERO_RANGE), or by writing zeros
    /// where the file system cannot.</summary>
    public bool TryZeroRange(long offset, long length) =>
        TryFallocate(HostCalls.FallocZeroRange | HostCalls.FallocKeepSize, offset, length, mustZero: true);

    private bool TryFallocate(int mode, long offset, long length, bool mustZero)
    {
        if (ReadOnly)
            return false;
        if (length == 0)
            return true;
        bool added = false;
        int error;
        try
        {
            _handle.DangerousAddRef(ref added);
            int fd = (int)_handle.DangerousGetHandle();
            do
            {
                if (HostCalls.fallocate(fd, mode, offset, length) == 0)
                    return true;
                error = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            } while (error == HostCalls.EINTR);
        }
        finally
        {
            if (added)
                _handle.DangerousRelease();
        }
        if (error != HostCalls.EOPNOTSUPP)
            return false;
        return !mustZero || TryWriteZeros(offset, length);
    }

    private bool TryWriteZeros(long offset, long length)
    {
        while (length > 0)
        {
            int n = (int)Math.Min(length, Zeros.Length);
            if (!TryWrite(Zeros.AsSpan(0, n), offset))
                return false;
            offset += n;
            length -= n;
        }
        return true;
    }

    public void Dispose() => _handle.Dispose();
}
