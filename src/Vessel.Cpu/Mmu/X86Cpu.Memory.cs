using System.Runtime.CompilerServices;
using Iced.Intel;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>Guest memory access: segmentation, then the TLB fast path, then the page walk and the
/// physical address space (RAM or an MMIO exit).</summary>
internal sealed unsafe partial class X86Cpu
{
    /// <summary>Owns the TLBs, the page walk, fills and flushes.</summary>
    private readonly Mmu _mmu;
    /// <summary>For compiled blocks, which probe its TLBs inline.</summary>
    internal Mmu MemoryUnit => _mmu;
    // The MMU's read and write TLBs, held here as well: the interpreter's loads and stores probe them without
    // first loading _mmu (one dependent load less per access).
    private readonly Tlb _readTlb, _writeTlb;
    /// <summary>Set when a write hit a page holding decoded code, so the current block stops.</summary>
    private bool _endBlock;

    /// <summary>Bumped whenever linear-to-physical translations (every flush of the MMU goes through the methods
    /// below) or the decode mode may have changed; chained block links made under an older epoch are not
    /// followed. 64 bits: a guest drives it (every CR3 write, INVLPG and mode change), and a 32-bit count that
    /// came round to a link's epoch again would let a stale link run code from a page no longer mapped there.</summary>
    private long _translationEpoch;

    /// <summary>For tests that drive the epoch to where a 32-bit one would wrap.</summary>
    internal long TranslationEpochForTests { get => _translationEpoch; set => _translationEpoch = value; }

    public void FlushTlb()
    {
        if (EmuProfiler.Enabled) Counters.TlbFlushes++;
        _translationEpoch++;
        _mmu.Flush();
    }

    public void FlushTlbPage(ulong linear)
    {
        if (EmuProfiler.Enabled) Counters.TlbPageFlushes++;
        _translationEpoch++;
        _mmu.FlushPage(linear);
    }

    public void DropAcTranslations() => _mmu.DropAcEntries();

    private void FlushTlbForCr3Write()
    {
        if (EmuProfiler.Enabled) Counters.TlbFlushesCr3++;
        _translationEpoch++;
        _mmu.FlushForCr3Write(ref State);
    }

    /// <summary>Physical address width this CPU model reports (CPUID 0x80000008).</summary>
    public const int PhysicalAddressBits = Mmu.PhysicalAddressBits;
    private const ulong PhysicalMask = Mmu.PhysicalMask;
    internal const uint PfPresent = Mmu.PfPresent, PfReserved = Mmu.PfReserved;


    /// <summary>Translates a linear address or raises #PF (CR2 and the error code set).</summary>
    internal ulong Translate(ulong linear, AccessKind kind, bool user) =>
        EmuProfiler.Enabled ? ProfiledTranslate(linear, kind, user) : _mmu.Translate(ref State, linear, kind, user);

    private ulong ProfiledTranslate(ulong linear, AccessKind kind, bool user)
    {
        if ((Cr0 & ControlRegisters.Cr0Pg) == 0) return _mmu.Translate(ref State, linear, kind, user);
        byte mode = ProfMode;
        ProfMode = (byte)ProfileMode.Walk;
        switch (kind)
        {
            case AccessKind.Read: Counters.TlbMissRead++; break;
            case AccessKind.Write: Counters.TlbMissWrite++; break;
            default: Counters.TlbMissExec++; break;
        }
        ulong phys = _mmu.Translate(ref State, linear, kind, user);
        ProfMode = mode;
        return phys;
    }

    private bool IsLongMode64 => Bitness == 64;

    // ---------------------------------------------------------------- segmentation

    /// <summary>Linear address of seg:offset for an access of <paramref name="size"/> bytes, after the
    /// limit, type and canonical checks of the current mode.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong SegmentedLinear(int seg, ulong offset, int size, AccessKind kind)
    {
        if (IsLongMode64)
        {
            ulong lin = seg >= FS ? Seg[seg].Base + offset : offset;
            if (!LinearAddress.IsCanonical(lin)) Fault(seg == SS ? Vector.SS : Vector.GP, 0);
            return lin;
        }
        return LegacySegmentedLinear(seg, offset, size, kind);
    }

    private ulong LegacySegmentedLinear(int seg, ulong offset, int size, AccessKind kind)
    {
        ref Segment s = ref Seg[seg];
        int vector = seg == SS ? Vector.SS : Vector.GP;
        if ((Cr0 & ControlRegisters.Cr0Pe) != 0)
        {
            if (s.Unusable) Fault(vector, 0);
            bool code = (s.Type & 8) != 0;
            if (kind == AccessKind.Write && (code || (s.Type & 2) == 0)) Fault(vector, 0);
            if (kind == AccessKind.Read && code && (s.Type & 2) == 0) Fault(vector, 0);
        }
        ulong last = offset + (ulong)size - 1;
        bool expandDown = (s.Type & 0xC) == 0x4;
        if (expandDown)
        {
            ulong upper = s.DefaultBig ? 0xFFFF_FFFFUL : 0xFFFFUL;
            if (offset <= s.Limit || last > upper) Fault(vector, 0);
        }
        else if (last > s.Limit || last < offset)
        {
            Fault(vector, 0);
        }
        return (s.Base + offset) & 0xFFFF_FFFFUL;
    }

    // ---------------------------------------------------------------- virtual (segmented) access

    private bool UserAccess => Cpl == 3;

    public ulong ReadVirtual(int seg, ulong offset, int size) =>
        ReadLinear(SegmentedLinear(seg, offset, size, AccessKind.Read), size, UserAccess);

    public void WriteVirtual(int seg, ulong offset, int size, ulong value) =>
        WriteLinear(SegmentedLinear(seg, offset, size, AccessKind.Write), size, value, UserAccess);

    // ---------------------------------------------------------------- linear access

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong ReadLinear(ulong linear, int size, bool user)
    {
        byte* p = Mmu.Probe(_readTlb, linear, size, user ? 1UL : 0);
        if (p != null)
        {
            return size switch
            {
                1 => *p,
                2 => Unsafe.ReadUnaligned<ushort>(p),
                4 => Unsafe.ReadUnaligned<uint>(p),
                _ => Unsafe.ReadUnaligned<ulong>(p),
            };
        }
        return ReadLinearSlow(linear, size, user);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteLinear(ulong linear, int size, ulong value, bool user)
    {
        byte* p = Mmu.Probe(_writeTlb, linear, size, user ? 1UL : 0);
        if (p != null)
        {
            switch (size)
            {
                case 1: *p = (byte)value; break;
                case 2: Unsafe.WriteUnaligned(p, (ushort)value); break;
                case 4: Unsafe.WriteUnaligned(p, (uint)value); break;
                default: Unsafe.WriteUnaligned(p, value); break;
            }
            return;
        }
        WriteLinearSlow(linear, size, value, user);
    }

    private ulong ReadLinearSlow(ulong linear, int size, bool user)
    {
        if ((linear & 0xFFF) > (ulong)(4096 - size))
        {
            // Crosses a page: translate both pages before touching either (a fault leaves nothing done).
            Translate(linear, AccessKind.Read, user);
            Translate((linear | 0xFFF) + 1, AccessKind.Read, user);
            ulong v = 0;
            for (int i = 0; i < size; i++) v |= ReadLinearSlow(linear + (ulong)i, 1, user) << (8 * i);
            return v;
        }
        ulong phys = Translate(linear, AccessKind.Read, user);
        byte* page = _memory.TryGetPointer(phys & ~0xFFFUL, 4096);
        if (page == null) return ReadPhysicalMmio(phys, size);
        _mmu.Fill(_mmu.Read, linear, phys, page, user);
        return ReadLinear(linear, size, user);
    }

    private void WriteLinearSlow(ulong linear, int size, ulong value, bool user)
    {
        if ((linear & 0xFFF) > (ulong)(4096 - size))
        {
            Translate(linear, AccessKind.Write, user);
            Translate((linear | 0xFFF) + 1, AccessKind.Write, user);
            for (int i = 0; i < size; i++) WriteLinearSlow(linear + (ulong)i, 1, value >> (8 * i), user);
            return;
        }
        ulong phys = Translate(linear, AccessKind.Write, user);
        byte* page = _memory.TryGetPointer(phys & ~0xFFFUL, 4096);
        if (page == null)
        {
            WritePhysicalMmio(phys, size, value);
            return;
        }
        if (_machine.Code.IsCode(phys))
        {
            // Decoded code lives here: write without caching the page, and drop the stale decode.
            WriteHost(page + (phys & 0xFFF), size, value);
            if (EmuProfiler.Enabled) Counters.CodeWriteInvalidations++;
            _machine.Code.Invalidate(phys);
            _endBlock = true;
            return;
        }
        FillWriteTlb(linear, phys, page, user);
        WriteHost(page + (phys & 0xFFF), size, value);
    }

    private void FillWriteTlb(ulong linear, ulong phys, byte* page, bool user) => _mmu.Fill(_mmu.Write, linear, phys, page, user);

    private static ulong ReadHost(byte* p, int size) => size switch
    {
        1 => *p,
        2 => Unsafe.ReadUnaligned<ushort>(p),
        4 => Unsafe.ReadUnaligned<uint>(p),
        _ => Unsafe.ReadUnaligned<ulong>(p),
    };

    private static void WriteHost(byte* p, int size, ulong value)
    {
        switch (size)
        {
            case 1: *p = (byte)value; break;
            case 2: Unsafe.WriteUnaligned(p, (ushort)value); break;
            case 4: Unsafe.WriteUnaligned(p, (uint)value); break;
            default: Unsafe.WriteUnaligned(p, value); break;
        }
    }

    /// <summary>Host pointer for a guest-physical RAM address, or null (MMIO / unbacked).</summary>
    internal byte* PhysicalPointer(ulong phys, int size) => _memory.TryGetPointer(phys, (ulong)size);

    // ---------------------------------------------------------------- physical access outside RAM

    private ulong ReadPhysicalMmio(ulong phys, int size)
    {
        if (_machine.Platform.TryReadMmio(this, phys, size, out ulong value)) return value;
        if (TryReplayRead(phys, size, out value)) return value;
        // An event cannot be restarted once the VMM answers, so a descriptor table or stack that is not RAM reads
        // as an address no device answers does on a PC: all ones (a bad gate, then #GP, #DF, a triple fault).
        if (_deliveringEvent || DeviceReadsSpent()) return SizeMask(size);
        throw ExitForRead(phys, VcpuExit.MmioRead(phys, size));
    }

    private void WritePhysicalMmio(ulong phys, int size, ulong value)
    {
        if (_machine.Platform.TryWriteMmio(this, phys, size, value)) return;
        RequestExit(VcpuExit.MmioWrite(phys, size, value & SizeMask(size)));
    }

    /// <summary>Port input: completes with the VMM's value on re-execution, else exits.</summary>
    private ulong PortRead(ushort port, int size)
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

    /// <summary>The instruction that was waiting for device values has completed (or faulted).</summary>
    private void EndReplay()
    {
        _replayCount = _replayNext = 0;
        _hasCompletedRead = false;
    }

    private void PortWrite(ushort port, int size, ulong value)
    {
        if (_machine.Platform.TryWritePort(this, port, size, value)) return;
        RequestExit(VcpuExit.IoOut(port, size, value & SizeMask(size)));
    }

    private void RequestExit(VcpuExit exit)
    {
        _endBlock = true;
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
    private void DropPendingExits()
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
