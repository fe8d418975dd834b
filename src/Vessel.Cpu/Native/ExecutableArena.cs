using System.Numerics;
using System.Runtime.InteropServices;

namespace Vessel.Cpu.Native;

/// <summary>A place in an <see cref="ExecutableArena"/>: its offset and its size class.</summary>
internal readonly record struct CodeChunk(int Offset, int SizeClass)
{
    public int Bytes => ExecutableArena.BytesOf(SizeClass);
}

/// <summary>Host memory for translated code, one per VM: a memory file mapped once, readable and executable, and
/// written only through the file (pwrite), so no page of the process is ever writable and executable (W^X), no
/// vCPU ever sees a page change its protection under it, and each page of code is resident in the process once
/// (a second, writable view of the file counted every page twice in RSS). Chunks are handed out by power-of-two
/// size class from a bump pointer and reused through free lists; the file's pages only exist once written, and the
/// whole of it is unmapped at <see cref="Dispose"/>. Allocation and freeing are locked: a vCPU translates and drops
/// its own blocks, but the arena is the VM's.</summary>
internal sealed unsafe class ExecutableArena : IDisposable
{
    /// <summary>Chunks of 256 B to 64 KiB.</summary>
    public const int SmallestChunk = 256, SizeClasses = 9;

    private readonly int _fd;
    /// <summary>Where code is written directly: only the one read-write-execute mapping of a perf-mapped arena;
    /// null otherwise (code is written through <see cref="_fd"/>).</summary>
    private readonly byte* _perfWritable;
    private readonly byte* _executable;
    private readonly long _capacity;
    private readonly Stack<int>[] _free = new Stack<int>[SizeClasses];
    private long _next;
    private long _live;
    private bool _disposed;

    public ExecutableArena(long capacityBytes)
    {
        _capacity = Math.Max(SmallestChunk << (SizeClasses - 1), capacityBytes & ~0xFFFFL);
        for (int i = 0; i < SizeClasses; i++) _free[i] = new Stack<int>();
        if (NativePerfMap.Enabled)
        {
            // perf reads its map only for anonymous code, not for a file's pages: profiling gives up W^X.
            _fd = -1;
            _perfWritable = _executable = (byte*)MapAnonymousWritableExecutable(_capacity);
            return;
        }
        _fd = NativeMemoryCalls.MemfdCreate("vessel-native-code", NativeMemoryCalls.MfdCloExec);
        if (_fd < 0) throw new InvalidOperationException($"memfd_create failed: errno {Marshal.GetLastPInvokeError()}");
        if (NativeMemoryCalls.Ftruncate(_fd, _capacity) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            NativeMemoryCalls.Close(_fd);
            throw new InvalidOperationException($"ftruncate of the code arena failed: errno {errno}");
        }
        nint rx = NativeMemoryCalls.Mmap(0, (nuint)_capacity, NativeMemoryCalls.ProtRead | NativeMemoryCalls.ProtExec,
            NativeMemoryCalls.MapShared | NativeMemoryCalls.MapNoReserve, _fd, 0);
        if (rx == NativeMemoryCalls.MapFailed)
        {
            int errno = Marshal.GetLastPInvokeError();
            NativeMemoryCalls.Close(_fd);
            throw new InvalidOperationException($"mapping the code arena failed: errno {errno}");
        }
        _executable = (byte*)rx;
    }

    private static nint MapAnonymousWritableExecutable(long bytes)
    {
        nint at = NativeMemoryCalls.Mmap(0, (nuint)bytes, NativeMemoryCalls.ProtRead | NativeMemoryCalls.ProtWrite | NativeMemoryCalls.ProtExec,
            NativeMemoryCalls.MapPrivate | NativeMemoryCalls.MapAnonymous | NativeMemoryCalls.MapNoReserve, -1, 0);
        if (at == NativeMemoryCalls.MapFailed)
            throw new InvalidOperationException($"mapping the code arena for perf failed: errno {Marshal.GetLastPInvokeError()}");
        return at;
    }

    /// <summary>Bytes of address space reserved (the file's size); resident memory is at most <see cref="HighWaterBytes"/>.</summary>
    public long CapacityBytes => _capacity;

    /// <summary>The most of the arena ever handed out: the bound on its resident memory.</summary>
    public long HighWaterBytes { get { lock (_free) return _next; } }

    /// <summary>Chunks handed out and not yet freed.</summary>
    public long LiveChunks { get { lock (_free) return _live; } }

    public bool IsDisposed => _disposed;

    public static int BytesOf(int sizeClass) => SmallestChunk << sizeClass;

    /// <summary>The size class that holds <paramref name="bytes"/>, or -1 if none does.</summary>
    public static int SizeClassFor(int bytes)
    {
        if (bytes <= SmallestChunk) return 0;
        int sizeClass = BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)bytes)) - BitOperations.Log2(SmallestChunk);
        return sizeClass < SizeClasses ? sizeClass : -1;
    }

    /// <summary>Copies <paramref name="code"/> into a fresh chunk; false when the arena is full or the code too big.</summary>
    public bool TryPlace(ReadOnlySpan<byte> code, out CodeChunk chunk)
    {
        chunk = default;
        int sizeClass = SizeClassFor(code.Length);
        if (sizeClass < 0) return false;
        int offset;
        lock (_free)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_free[sizeClass].TryPop(out offset))
            {
                if (_next + BytesOf(sizeClass) > _capacity) return false;
                offset = (int)_next;
                _next += BytesOf(sizeClass);
            }
            _live++;
        }
        chunk = new CodeChunk(offset, sizeClass);
        Write(offset, code);
        return true;
    }

    /// <summary><see cref="TryPlace(ReadOnlySpan{byte}, out CodeChunk)"/> for the translation of the guest block at
    /// <paramref name="guestRip"/>, named in the perf map when <see cref="NativePerfMap"/> is on.</summary>
    public bool TryPlace(ReadOnlySpan<byte> code, ulong guestRip, out CodeChunk chunk)
    {
        if (!TryPlace(code, out chunk)) return false;
        if (NativePerfMap.Enabled) NativePerfMap.Record(EntryOf(chunk), code, guestRip);
        return true;
    }

    /// <summary>The executable address of <paramref name="chunk"/>'s first byte.</summary>
    public nint EntryOf(CodeChunk chunk) => (nint)(_executable + chunk.Offset);

    /// <summary>Overwrites 4 bytes at <paramref name="offset"/> of <paramref name="chunk"/> (a jump's displacement);
    /// the caller makes sure no thread is running that code.</summary>
    public void PatchInt32(CodeChunk chunk, int offset, int value)
    {
        if ((uint)offset > (uint)(chunk.Bytes - 4)) throw new ArgumentOutOfRangeException(nameof(offset));
        Write(chunk.Offset + offset, new ReadOnlySpan<byte>(&value, sizeof(int)));
    }

    /// <summary>Writes <paramref name="bytes"/> at <paramref name="offset"/> of the file; the executable view sees them
    /// at once (the same pages; x86 keeps instruction fetch coherent with stores).</summary>
    private void Write(long offset, ReadOnlySpan<byte> bytes)
    {
        if (_perfWritable != null)
        {
            bytes.CopyTo(new Span<byte>(_perfWritable + offset, bytes.Length));
            return;
        }
        fixed (byte* source = bytes)
        {
            int done = 0;
            while (done < bytes.Length)
            {
                nint n = NativeMemoryCalls.Pwrite(_fd, source + done, (nuint)(bytes.Length - done), offset + done);
                if (n > 0) { done += (int)n; continue; }
                int errno = Marshal.GetLastPInvokeError();
                if (n < 0 && errno == NativeMemoryCalls.Eintr) continue;
                // Only an exhausted host (ENOSPC, ENOMEM of shmem) gets here: no recovery would be honest.
                throw new InvalidOperationException($"writing translated code into the arena failed: errno {errno}");
            }
        }
    }

    /// <summary>Gives a chunk back; nobody may be running its code.</summary>
    public void Free(CodeChunk chunk)
    {
        lock (_free)
        {
            if (_disposed) return;
            _free[chunk.SizeClass].Push(chunk.Offset);
            _live--;
        }
    }

    public void Dispose()
    {
        lock (_free)
        {
            if (_disposed) return;
            _disposed = true;
        }
        NativeMemoryCalls.Munmap((nint)_executable, (nuint)_capacity);
        if (_fd >= 0) NativeMemoryCalls.Close(_fd);
    }
}
