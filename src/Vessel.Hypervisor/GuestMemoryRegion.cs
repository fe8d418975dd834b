using System.Runtime.InteropServices;

namespace Vessel.Hypervisor;

/// <summary>One block of guest RAM: anonymous, page-aligned, mmap'd host memory. The same pointer is
/// given to KVM and used by the emulator. Pages are touched lazily, so an idle 4 GiB guest costs little.</summary>
public sealed unsafe class GuestMemoryRegion : IDisposable
{
    public const ulong PageSize = 4096;
    private nint _host;

    public GuestMemoryRegion(ulong size)
    {
        if (size == 0 || size % PageSize != 0)
            throw new ArgumentException($"region size {size} is not a positive multiple of {PageSize}", nameof(size));
        nint p = Native.mmap(0, (nuint)size, Native.ProtRead | Native.ProtWrite,
            Native.MapPrivate | Native.MapAnonymous | Native.MapNoReserve, -1, 0);
        if (p == Native.MapFailed)
            throw new GuestMemoryUnavailableException(
                $"the host cannot map {size >> 20} MiB of guest memory (mmap errno {Marshal.GetLastPInvokeError()})");
        _host = p;
        Size = size;
    }

    public ulong Size { get; }

    /// <summary>Host address of the first byte; valid until <see cref="Dispose"/>.</summary>
    public nint HostAddress => _host != 0 ? _host : throw new ObjectDisposedException(nameof(GuestMemoryRegion));

    public byte* Pointer => (byte*)HostAddress;

    public Span<byte> AsSpan(ulong offset, int length)
    {
        if (length < 0 || offset > Size || (ulong)length > Size - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"0x{offset:x}+{length} is outside a region of 0x{Size:x} bytes");
        return new Span<byte>(Pointer + offset, length);
    }

    public void Dispose()
    {
        nint p = Interlocked.Exchange(ref _host, 0);
        if (p != 0) Native.munmap(p, (nuint)Size);
    }
}
