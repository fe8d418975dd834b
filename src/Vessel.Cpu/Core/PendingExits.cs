using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>One vCPU's exits to the VMM and the device values it is replayed with. An instruction's exit is
/// returned from Run once the instruction completes; the further device writes of an instruction that made several
/// (a page-crossing or 16-byte store to MMIO, ENTER's pushes onto an MMIO stack) go out one per Run, in order. An
/// instruction that reads the VMM's devices more than once (CMPSB between two MMIO buffers, MOVS from a port-backed
/// buffer) exits for each value and re-executes from its start: the values it already got are replayed in order,
/// keyed by port or physical address. While <see cref="HasCompletedRead"/>, the run loop re-executes exactly that
/// instruction, then forgets them.</summary>
internal sealed class PendingExits(ExitToVmm exitToVmm)
{
    /// <summary>The most exits and device reads one instruction makes stays below this (FXSAVE/XSAVE to MMIO: 66
    /// stores, some split into bytes across a page; FXRSTOR/XRSTOR from MMIO, about 60 reads; a task switch saving
    /// into or reading a TSS on MMIO; a call gate copying 31 parameters onto an MMIO stack).</summary>
    internal const int MaxDeviceAccesses = 256;
    private const int MaxReplayedReads = MaxDeviceAccesses;

    /// <summary>An exit is waiting to be returned from Run (the instruction ends the block).</summary>
    internal bool HasPending;
    private VcpuExit _pending;
    private readonly VcpuExit[] _queued = new VcpuExit[MaxDeviceAccesses];
    private int _queuedCount, _queuedNext;

    /// <summary>The VMM answered a device read: the instruction that waited for it runs next, alone.</summary>
    internal bool HasCompletedRead;
    private readonly ulong[] _replayKeys = new ulong[MaxReplayedReads];
    private readonly ulong[] _replayValues = new ulong[MaxReplayedReads];
    private int _replayCount, _replayNext;
    private ulong _pendingReadKey;

    /// <summary>Device reads answered with all ones and device writes dropped because one instruction went past
    /// <see cref="MaxDeviceAccesses"/>; no instruction does (a test hook and a safety net, not a path).</summary>
    internal long DroppedDeviceAccesses;

    /// <summary>The next value the VMM already supplied to this instruction, if it is for <paramref name="key"/>.</summary>
    internal bool TryReplayRead(ulong key, int size, out ulong value)
    {
        if (_replayNext < _replayCount)
        {
            if (_replayKeys[_replayNext] == key)
            {
                value = _replayValues[_replayNext++] & LazyFlags.SizeMask(size);
                return true;
            }
            _replayCount = _replayNext; // the instruction went another way this time: what followed is stale
        }
        value = 0;
        return false;
    }

    /// <summary>Exits for a device read; the instruction re-executes with the value (see <see cref="CompleteRead"/>).</summary>
    internal ExitToVmm ExitForRead(ulong key, VcpuExit exit)
    {
        _pendingReadKey = key;
        DropPending();
        Request(exit);
        return exitToVmm;
    }

    /// <summary>The instruction has had as many device values as any instruction needs (see MaxDeviceAccesses):
    /// a further read is answered as by an address no device claims, all ones, rather than left unbounded.</summary>
    internal bool DeviceReadsSpent()
    {
        if (_replayCount < MaxReplayedReads) return false;
        DroppedDeviceAccesses++;
        return true;
    }

    /// <summary>The VMM's value for the read the last exit asked for.</summary>
    internal void CompleteRead(ulong value)
    {
        if (_replayCount == MaxReplayedReads) return; // no exit asks for more (see X86Cpu.ReadPhysicalMmio)
        _replayKeys[_replayCount] = _pendingReadKey;
        _replayValues[_replayCount] = value;
        _replayCount++;
        _replayNext = 0;
        HasCompletedRead = true;
    }

    /// <summary>The device reads replayed so far belong to finished iterations: a resumed string instruction
    /// starts after them.</summary>
    internal void ForgetReplayedReads() => _replayCount = _replayNext = 0;

    /// <summary>The instruction that was waiting for device values has completed (or faulted).</summary>
    internal void EndReplay()
    {
        _replayCount = _replayNext = 0;
        HasCompletedRead = false;
    }

    /// <summary>Queues <paramref name="exit"/> behind the current instruction's earlier ones.</summary>
    internal void Request(VcpuExit exit)
    {
        if (!HasPending)
        {
            _pending = exit;
            HasPending = true;
            return;
        }
        if (_queuedCount == _queued.Length)
        {
            // Past any instruction's device writes (see MaxDeviceAccesses): drop the write, but never a halt,
            // shutdown or error, which takes the last place instead.
            DroppedDeviceAccesses++;
            if (exit.Reason is VcpuExitReason.MmioWrite or VcpuExitReason.IoOut) return;
            _queuedCount--;
        }
        _queued[_queuedCount++] = exit;
    }

    /// <summary>Drops the exits the current instruction queued: it re-executes from its start (waiting for a
    /// device read) and will make them again.</summary>
    internal void DropPending()
    {
        HasPending = false;
        _queuedCount = _queuedNext = 0;
    }

    /// <summary>The exit Run returns now; a further one queued by the same instruction stays pending.</summary>
    internal VcpuExit Take()
    {
        VcpuExit exit = _pending;
        if (_queuedNext < _queuedCount)
        {
            _pending = _queued[_queuedNext++]; // still pending: the next Run returns it first
        }
        else
        {
            HasPending = false;
            _queuedCount = _queuedNext = 0;
        }
        return exit;
    }
}
