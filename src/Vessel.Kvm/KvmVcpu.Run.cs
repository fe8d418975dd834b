using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Vessel.Hypervisor;

namespace Vessel.Kvm;

/// <summary>KVM_RUN and the mapping of kvm_run exits onto <see cref="VcpuExit"/>. A string I/O exit (INS/OUTS
/// with a REP count) carries count elements in kvm_run's data area; they are handed to the VMM one per
/// <see cref="Run"/> call before the vCPU re-enters the guest.</summary>
public sealed unsafe partial class KvmVcpu
{
    /// <summary>libc's ioctl, called through its address: a call through the PLT reads two more pages (the stub
    /// and the GOT) on every exit, and under nested virtualization each page an exit touches costs a walk.</summary>
    private readonly delegate* unmanaged<int, nuint, nint, int> _ioctl = KvmNative.IoctlEntryPoint;
    /// <summary>The Linux tid of the vCPU's own thread (the one <see cref="Run"/> is called on, as IVcpu asks),
    /// taken at the first Run: kicks signal it. Not looked up per Run: a thread-static or the managed thread id
    /// is one more page per exit.</summary>
    private int _runnerTid;

    private int _ioNext, _ioCount, _ioSize;
    private bool _ioIn;
    private ushort _ioPort;
    private byte* _ioData;
    /// <summary>Where <see cref="CompleteRead"/> puts the value, and how many bytes; null when no read is pending.</summary>
    private byte* _readSlot;
    private int _readSize;

    public VcpuExit Run()
    {
        Interlocked.Increment(ref _users);
        try
        {
            if (Volatile.Read(ref _disposed) != 0) ThrowDisposed();
            return RunOnce(_run);
        }
        finally
        {
            Interlocked.Decrement(ref _users);
        }
    }

    private VcpuExit RunOnce(byte* run)
    {
        if (_ioNext < _ioCount) return NextIoElement();
        _ioCount = _ioNext = 0;
        _readSlot = null;

        int tid = _runnerTid;
        if (tid == 0) _runnerTid = tid = KvmNative.GetTid();
        _runningTid = tid;
        // errno is read (RunFailed) only when the call failed, and nothing in between sets it.
        int result = _ioctl(_fd, KvmIoctls.Run, 0);
        _runningTid = 0;

        // Port I/O is the exit that repeats fastest; everything else, and every failure, lives out of line so the
        // code run on each exit stays short (under nested virtualization each page it touches costs a walk).
        if (result < 0) return RunFailed(run);
        if (*(uint*)(run + KvmRunOffsets.ExitReason) == KvmExit.Io) return BeginIo(run);
        return DecodeExit(run);
    }

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowDisposed() => throw new ObjectDisposedException(nameof(KvmVcpu), $"vCPU {Id} is disposed");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private VcpuExit RunFailed(byte* run)
    {
        int errno = Marshal.GetLastSystemError();
        if (errno is KvmNative.EIntr or KvmNative.EAgain)
        {
            Volatile.Write(ref run[KvmRunOffsets.ImmediateExit], 0);
            return VcpuExit.Interrupted();
        }
        return VcpuExit.InternalError($"vCPU {Id}: KVM_RUN failed: {KvmNative.Describe(errno)}");
    }

    public void CompleteRead(ulong value)
    {
        byte* slot = _readSlot;
        if (slot == null) throw new InvalidOperationException($"vCPU {Id}: CompleteRead without a pending IN or MMIO read");
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        bytes[.._readSize].CopyTo(new Span<byte>(slot, _readSize));
        _readSlot = null;
    }

    /// <summary>Every exit but port I/O, which <see cref="Run"/> takes itself.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private VcpuExit DecodeExit(byte* run)
    {
        uint reason = *(uint*)(run + KvmRunOffsets.ExitReason);
        switch (reason)
        {
            case KvmExit.Mmio:
            {
                ulong address = *(ulong*)(run + KvmRunOffsets.MmioPhysAddr);
                int length = (int)*(uint*)(run + KvmRunOffsets.MmioLen);
                if (length is not (1 or 2 or 4 or 8))
                    return VcpuExit.InternalError($"vCPU {Id}: MMIO access of {length} bytes at 0x{address:x}");
                byte* data = run + KvmRunOffsets.MmioData;
                if (run[KvmRunOffsets.MmioIsWrite] != 0) return VcpuExit.MmioWrite(address, length, ReadLittleEndian(data, length));
                _readSlot = data;
                _readSize = length;
                return VcpuExit.MmioRead(address, length);
            }
            case KvmExit.Hlt:
                return VcpuExit.Halt();
            case KvmExit.Shutdown:
                return VcpuExit.Shutdown($"vCPU {Id}: triple fault (KVM_EXIT_SHUTDOWN)");
            case KvmExit.Intr:
                Volatile.Write(ref run[KvmRunOffsets.ImmediateExit], 0);
                return VcpuExit.Interrupted();
            case KvmExit.FailEntry:
                return VcpuExit.InternalError(
                    $"vCPU {Id}: KVM_EXIT_FAIL_ENTRY, hardware entry failure reason 0x{*(ulong*)(run + KvmRunOffsets.FailEntryReason):x} on host CPU {*(uint*)(run + KvmRunOffsets.FailEntryCpu)}");
            case KvmExit.InternalError:
            {
                uint suberror = *(uint*)(run + KvmRunOffsets.InternalSuberror);
                uint ndata = Math.Min(*(uint*)(run + KvmRunOffsets.InternalNdata), 16u);
                var data = new string[ndata];
                for (int i = 0; i < ndata; i++) data[i] = $"0x{((ulong*)(run + KvmRunOffsets.InternalData))[i]:x}";
                string what = suberror switch
                {
                    1 => "emulation failure",
                    2 => "simultaneous exceptions",
                    3 => "delivery event not handled",
                    4 => "unexpected exit reason",
                    _ => $"suberror {suberror}",
                };
                return VcpuExit.InternalError($"vCPU {Id}: KVM_EXIT_INTERNAL_ERROR ({what}) data [{string.Join(", ", data)}]");
            }
            case KvmExit.SystemEvent:
                return VcpuExit.Shutdown($"vCPU {Id}: KVM_EXIT_SYSTEM_EVENT type {*(uint*)(run + KvmRunOffsets.SystemEventType)}");
            default:
                return VcpuExit.InternalError($"vCPU {Id}: unexpected KVM exit reason {reason}");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private VcpuExit BeginIo(byte* run)
    {
        int size = run[KvmRunOffsets.IoSize];
        uint count = *(uint*)(run + KvmRunOffsets.IoCount);
        ulong dataOffset = *(ulong*)(run + KvmRunOffsets.IoDataOffset);
        if (size is not (1 or 2 or 4) || count == 0 || dataOffset + (ulong)size * count > (ulong)_mmapSize)
            return MalformedIo(size, count, dataOffset);
        _ioIn = run[KvmRunOffsets.IoDirection] == KvmExit.IoIn;
        _ioPort = *(ushort*)(run + KvmRunOffsets.IoPort);
        _ioSize = size;
        _ioCount = (int)count;
        _ioNext = 0;
        _ioData = run + dataOffset;
        return NextIoElement();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private VcpuExit MalformedIo(int size, uint count, ulong dataOffset) =>
        VcpuExit.InternalError($"vCPU {Id}: malformed I/O exit (size {size}, count {count}, data offset {dataOffset})");

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private VcpuExit NextIoElement()
    {
        if (_ioIn && _readSlot != null) ThrowReadPending();
        byte* element = _ioData + _ioNext * _ioSize;
        _ioNext++;
        if (!_ioIn) return VcpuExit.IoOut(_ioPort, _ioSize, ReadLittleEndian(element, _ioSize));
        _readSlot = element;
        _readSize = _ioSize;
        return VcpuExit.IoIn(_ioPort, _ioSize);
    }

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowReadPending() =>
        throw new InvalidOperationException($"vCPU {Id}: Run called before CompleteRead for in port 0x{_ioPort:x}");

    /// <summary>kvm_run's data is in the host's byte order, which is little-endian: this backend is x86-64 only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ReadLittleEndian(byte* p, int size) =>
        // Conditionals rather than a switch: a jump table is one more page of read-only data per exit.
        size == 1 ? *p : size == 2 ? *(ushort*)p : size == 4 ? *(uint*)p : *(ulong*)p;
}
