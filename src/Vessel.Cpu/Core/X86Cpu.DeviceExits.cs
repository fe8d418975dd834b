using System.Runtime.CompilerServices;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>What the vCPU does when an access leaves RAM: MMIO and ports go to the platform's devices or exit to
/// the VMM through <see cref="PendingExits"/> (a read re-executes its instruction with the value), and faults.</summary>
internal sealed partial class X86Cpu
{
    // ---------------------------------------------------------------- physical access outside RAM

    internal ulong ReadPhysicalMmio(ulong phys, int size)
    {
        if (_machine.Platform.TryReadMmio(this, phys, size, out ulong value)) return value;
        if (Exits.TryReplayRead(phys, size, out value)) return value;
        // An event cannot be restarted once the VMM answers, so a descriptor table or stack that is not RAM reads
        // as an address no device answers does on a PC: all ones (a bad gate, then #GP, #DF, a triple fault).
        if (_deliveringEvent || Exits.DeviceReadsSpent()) return SizeMask(size);
        BlockEnded = true;
        throw Exits.ExitForRead(phys, VcpuExit.MmioRead(phys, size));
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
        if (Exits.TryReplayRead(key, size, out value)) return value;
        if (Exits.DeviceReadsSpent()) return SizeMask(size);
        BlockEnded = true;
        throw Exits.ExitForRead(key, VcpuExit.IoIn(port, size));
    }

    /// <summary>An exit is waiting to be returned from Run (the instruction ends the block).</summary>
    internal bool HasPendingExit => Exits.HasPending;

    /// <summary>See <see cref="PendingExits.ForgetReplayedReads"/>.</summary>
    internal void ForgetReplayedReads() => Exits.ForgetReplayedReads();

    internal void PortWrite(ushort port, int size, ulong value)
    {
        if (_machine.Platform.TryWritePort(this, port, size, value)) return;
        RequestExit(VcpuExit.IoOut(port, size, value & SizeMask(size)));
    }

    private void RequestExit(VcpuExit exit)
    {
        BlockEnded = true;
        Exits.Request(exit);
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
