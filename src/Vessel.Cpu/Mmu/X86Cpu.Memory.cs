using System.Runtime.CompilerServices;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>Guest memory access from the CPU's side: segmentation (a CPU concern) turns seg:offset into a linear
/// address, which <see cref="GuestMemoryAccess"/> loads or stores; the flushes that keep the TLBs and the
/// translation epoch true.</summary>
internal sealed unsafe partial class X86Cpu
{
    /// <summary>Owns the TLBs, the page walk, fills and flushes.</summary>
    private readonly Mmu _mmu;
    /// <summary>Loads and stores at linear addresses: the TLB probe, the walk on a miss, page crossings, RAM or MMIO.</summary>
    private readonly GuestMemoryAccess _access;
    internal GuestMemoryAccess MemoryAccess => _access;
    /// <summary>For compiled blocks, which probe its TLBs inline.</summary>
    internal Mmu MemoryUnit => _mmu;
    /// <summary>Set when a write hit a page holding decoded code, so the current block stops.</summary>
    internal bool BlockEnded;

    /// <summary>Bumped whenever linear-to-physical translations (every flush of the MMU goes through the methods
    /// below) or the decode mode may have changed; chained block links made under an older epoch are not
    /// followed. 64 bits: a guest drives it (every CR3 write, INVLPG and mode change), and a 32-bit count that
    /// came round to a link's epoch again would let a stale link run code from a page no longer mapped there.</summary>
    private long _translationEpoch;

    /// <summary>Moves with <see cref="_translationEpoch"/> at every change but a CR3 write, which keeps global
    /// translations: a jump-cache entry of a global page filled under the same value is still good.</summary>
    private long _globalTranslationEpoch;

    internal long TranslationEpoch => _translationEpoch;
    internal long GlobalTranslationEpoch => _globalTranslationEpoch;

    /// <summary>What a block link (<see cref="DecodedBlock.LinkEpoch"/>) is made and followed under: the translation
    /// epoch and the user bit. The successor's lookup checked its page's execute permission for one privilege level
    /// (user pages under SMEP, supervisor pages from ring 3), and CS loads that keep the bitness no longer move the
    /// epoch, so a link is followed only at the level it was made at. Shifted: the epoch cannot reach 2^62.</summary>
    internal long LinkEpochNow => (_translationEpoch << 1) | (Cpl == 3 ? 1L : 0L);

    /// <summary>For tests that drive the epoch to where a 32-bit one would wrap.</summary>
    internal long TranslationEpochForTests { get => _translationEpoch; set => _translationEpoch = value; }

    public void FlushTlb()
    {
        if (EmuProfiler.Enabled) Counters.TlbFlushes++;
        _translationEpoch++;
        _globalTranslationEpoch++;
        _mmu.Flush();
    }

    public void FlushTlbPage(ulong linear)
    {
        if (EmuProfiler.Enabled) Counters.TlbPageFlushes++;
        _translationEpoch++;
        _globalTranslationEpoch++;
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
    internal ulong Translate(ulong linear, AccessKind kind, bool user) => _access.Translate(linear, kind, user);

    private bool IsLongMode64 => Bitness == 64;

    // ---------------------------------------------------------------- segmentation

    /// <summary>Linear address of seg:offset for an access of <paramref name="size"/> bytes, after the
    /// limit, type and canonical checks of the current mode.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong SegmentedLinear(int seg, ulong offset, int size, AccessKind kind)
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

    internal bool UserAccess => Cpl == 3;

    public ulong ReadVirtual(int seg, ulong offset, int size) =>
        ReadLinear(SegmentedLinear(seg, offset, size, AccessKind.Read), size, UserAccess);

    public void WriteVirtual(int seg, ulong offset, int size, ulong value) =>
        WriteLinear(SegmentedLinear(seg, offset, size, AccessKind.Write), size, value, UserAccess);

    // ---------------------------------------------------------------- linear access (GuestMemoryAccess's)

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong ReadLinear(ulong linear, int size, bool user) => _access.ReadLinear(linear, size, user);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteLinear(ulong linear, int size, ulong value, bool user) => _access.WriteLinear(linear, size, value, user);

    /// <summary>A write hit a page holding decoded code: the current block stops after this instruction.</summary>
    internal void EndBlockAfterCodeWrite() => BlockEnded = true;
}
