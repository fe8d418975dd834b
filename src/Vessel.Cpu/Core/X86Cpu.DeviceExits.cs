using System.Runtime.CompilerServices;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>What the vCPU does when an access leaves RAM: MMIO and ports go to the platform's devices or exit to
/// the VMM (a read re-executes its instruction with the value), the exits an instruction queues, and faults.</summary>
internal sealed partial class X86Cpu
{
    // ---------------------------------------------------------------- physical access outside RAM

    internal ulong ReadPhysicalMmio(ulong phys, int size)
    {
        if (_machine.Platform.TryReadMmio(this, phys, size, out ulong value)) return value;
        if (TryReplayRead(phys, size, out value)) return value;
        // An event cannot be restarted once the VMM answers, so a descriptor table or stack that is not RAM reads
        // as an address no device answers does on a PC: all ones (a bad gate, then #GP, #DF, a triple fault).
        if (_deliveringEvent || DeviceReadsSpent()) return SizeMask(size);
        throw ExitForRead(phys, VcpuExit.MmioRead(phys, size));
    }

    internal void WritePhysicalMmio(ulong phys, int size, ulong value)
    {
        if (_machine.Platform.TryWriteMmio(this, phys, size, value)) return;
        RequestExit(VcpuExit.MmioWrite(phys, size, value & SizeMask(size)));
    }

    /// <summary>Port input: completes with the VMM's value on re-execution, else exits.</summary>
    internal ulong PortRead(ushort port, int size)
    {
        if (_machine.Platform.TryReadPort(this, port, size, out ulong value)) return value;
        ulong key = (1UL << 63) | port;
        if (TryReplayRead(key, size, out value)) return value;
        if (DeviceReadsSpent()) return SizeMask(size);
        throw ExitForRead(key, VcpuExit.IoIn(port, size));
    }

    /// <summary>The next value the VMM already supplied to this instruction, if it is for <paramref name="key"/>.</summary>
    private bool TryReplayRead(ulong key, int size, out ulong value)
    {
        if (_replayNext < _replayCount)
        {
            if (_replayKeys[_replayNext] == key)
            {
                value = _replayValues[_replayNext++] & SizeMask(size);
                return true;
            }
            _replayCount = _replayNext; // the instruction went another way this time: what followed is stale
        }
        value = 0;
        return false;
    }

    /// <summary>Exits for a device read; the instruction re-executes with the value (see <see cref="CompleteRead"/>).</summary>
    private ExitToVmm ExitForRead(ulong key, VcpuExit exit)
    {
        _pendingReadKey = key;
        DropPendingExits();
        RequestExit(exit);
        return _exitToVmm;
    }

    /// <summary>The instruction has had as many device values as any instruction needs (see MaxDeviceAccesses):
    /// a further read is answered as by an address no device claims, all ones, rather than left unbounded.</summary>
    private bool DeviceReadsSpent()
    {
        if (_replayCount < MaxReplayedReads) return false;
        DroppedDeviceAccesses++;
        return true;
    }

    /// <summary>Device reads answered with all ones and device writes dropped because one instruction went past
    /// <see cref="MaxDeviceAccesses"/>; no instruction does (a test hook and a safety net, not a path).</summary>
    internal long DroppedDeviceAccesses;

    /// <summary>An exit is waiting to be returned from Run (the instruction ends the block).</summary>
    internal bool HasPendingExit => _hasPendingExit;

    /// <summary>The VMM answered a device read: the instruction that waited for it runs next, alone.</summary>
    internal bool HasCompletedRead => _hasCompletedRead;

    internal VcpuExit TakePendingExit()
    {
        VcpuExit exit = _pendingExit;
        if (_queuedExitNext < _queuedExitCount)
        {
            _pendingExit = _queuedExits[_queuedExitNext++]; // still pending: the next Run returns it first
        }
        else
        {
            _hasPendingExit = false;
            _queuedExitCount = _queuedExitNext = 0;
        }
        return exit;
    }

    /// <summary>The device reads replayed so far belong to finished iterations: a resumed string instruction
    /// starts after them.</summary>
    internal void ForgetReplayedReads() => _replayCount = _replayNext = 0;

    /// <summary>The instruction that was waiting for device values has completed (or faulted).</summary>
    internal void EndReplay()
    {
        _replayCount = _replayNext = 0;
        _hasCompletedRead = false;
    }

    internal void PortWrite(ushort port, int size, ulong value)
    {
        if (_machine.Platform.TryWritePort(this, port, size, value)) return;
        RequestExit(VcpuExit.IoOut(port, size, value & SizeMask(size)));
    }

    private void RequestExit(VcpuExit exit)
    {
        BlockEnded = true;
        if (!_hasPendingExit)
        {
            _pendingExit = exit;
            _hasPendingExit = true;
            return;
        }
        if (_queuedExitCount == _queuedExits.Length)
        {
            // Past any instruction's device writes (see MaxDeviceAccesses): drop the write, but never a halt,
            // shutdown or error, which takes the last place instead.
            DroppedDeviceAccesses++;
            if (exit.Reason is VcpuExitReason.MmioWrite or VcpuExitReason.IoOut) return;
            _queuedExitCount--;
        }
        _queuedExits[_queuedExitCount++] = exit;
    }

    /// <summary>Drops the exits the current instruction queued: it re-executes from its start (waiting for a
    /// device read) and will make them again.</summary>
    internal void DropPendingExits()
    {
        _hasPendingExit = false;
        _queuedExitCount = _queuedExitNext = 0;
    }

    // ---------------------------------------------------------------- faults

    [MethodImpl(MethodImplOptions.NoInlining)]
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    internal void Fault(int vector, uint errorCode) => _fault.Raise(vector, errorCode);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    internal void FaultNoCode(int vector)
    {
        _fault.FaultVector = vector;
        _fault.ErrorCode = 0;
        _fault.HasErrorCode = false;
        throw _fault;
    }
}
