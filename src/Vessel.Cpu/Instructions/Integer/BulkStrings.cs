using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>REP MOVS and REP STOS in bulk: the iterations that fall in pages the read and write TLBs already map to
/// RAM run as one host fill or copy. The write TLB never maps a page holding decoded code, so a bulk store cannot
/// skip a code invalidation. Anything else -- a TLB miss, MMIO, an element straddling a page, a segment limit or an
/// address-size wrap within reach, a MOVS whose destination overlaps the source ahead of the copy -- is left to the
/// element loop (<see cref="StringUnit{TCpu}"/>), which faults precisely and fills the TLBs for the next bulk
/// attempt. One per vCPU, over its state block and its MMU's TLBs.</summary>
internal sealed unsafe class BulkStrings
{
    private readonly X86Cpu _cpu;
    private readonly Tlb _readTlb, _writeTlb;

    public BulkStrings(X86Cpu cpu, Mmu mmu)
    {
        _cpu = cpu;
        _readTlb = mmu.Read;
        _writeTlb = mmu.Write;
    }

    /// <summary>Off in tests that compare the bulk path with the element loop.</summary>
    internal bool Enabled { get; set; } = true;

    /// <summary>Bulk operations run, so tests can tell the bulk path was taken.</summary>
    internal long Operations { get; private set; }

    /// <summary>Runs up to <paramref name="limit"/> iterations of a REP MOVS (<paramref name="movs"/>) or REP STOS
    /// with elements of <paramref name="size"/> bytes and updates RCX, RSI and RDI; returns how many it ran
    /// (0: the element loop must run the next one).</summary>
    public int TryRun(bool movs, int size, int sourceSeg, int addressSize, int limit)
    {
        ref CpuState state = ref _cpu.State;
        ulong amask = LazyFlags.SizeMask(addressSize);
        ulong count = state.Gpr[1] & amask;
        ulong n = Math.Min(count, (ulong)limit);
        bool down = (state.Rflags & RflagsBits.Df) != 0;
        ulong di = state.Gpr[7] & amask, si = state.Gpr[6] & amask;
        byte* dst = BulkPointer(ref state, X86Cpu.ES, di, size, down, amask, AccessKind.Write, ref n);
        if (dst == null) return 0;
        byte* src = null;
        if (movs)
        {
            src = BulkPointer(ref state, sourceSeg, si, size, down, amask, AccessKind.Read, ref n);
            if (src == null) return 0;
        }

        ulong bytes = n * (ulong)size;
        ulong back = (n - 1) * (ulong)size; // from the first element to the lowest one when DF=1
        byte* dstLow = down ? dst - back : dst;
        if (movs)
        {
            byte* srcLow = down ? src - back : src;
            // Element order matters only when the destination overlaps source bytes the copy has yet to read.
            long ahead = down ? srcLow - dstLow : dstLow - srcLow;
            if (ahead > 0 && (ulong)ahead < bytes) return 0;
            Buffer.MemoryCopy(srcLow, dstLow, bytes, bytes);
            _cpu.WriteGprSized(6, addressSize, down ? si - bytes : si + bytes);
        }
        else
        {
            Fill(dstLow, size, (int)n, state.Gpr[0]);
        }
        _cpu.WriteGprSized(7, addressSize, down ? di - bytes : di + bytes);
        _cpu.WriteGprSized(1, addressSize, count - n);
        Operations++;
        return (int)n;
    }

    private static void Fill(byte* p, int size, int n, ulong value)
    {
        switch (size)
        {
            case 1: new Span<byte>(p, n).Fill((byte)value); break;
            case 2: new Span<ushort>(p, n).Fill((ushort)value); break;
            case 4: new Span<uint>(p, n).Fill((uint)value); break;
            default: new Span<ulong>(p, n).Fill(value); break;
        }
    }

    /// <summary>The host address of the element at <paramref name="offset"/> in <paramref name="seg"/> when its
    /// page is in the TLB for <paramref name="kind"/>; <paramref name="n"/> is cut to the elements (going up, or
    /// down with DF) that stay in that page, inside the address size and the segment limit. Null when not even
    /// the first element qualifies. Never faults.</summary>
    private byte* BulkPointer(ref CpuState state, int seg, ulong offset, int size, bool down, ulong amask, AccessKind kind, ref ulong n)
    {
        ulong last = (ulong)size - 1;
        ulong room = amask - offset; // bytes above the first element's start before the address size wraps
        if (room < last) return null;
        n = Math.Min(n, down ? offset / (ulong)size + 1 : (room - last) / (ulong)size + 1);

        ulong linear;
        if (state.Bitness == 64) linear = seg >= X86Cpu.FS ? state.Seg[seg].Base + offset : offset;
        else
        {
            ref Segment s = ref state.Seg[seg];
            if (!SegmentUsable(ref s, kind, state.Cr0)) return null;
            if (offset > s.Limit || s.Limit - offset < last) return null;
            if (!down) n = Math.Min(n, (s.Limit - offset - last) / (ulong)size + 1);
            linear = (s.Base + offset) & 0xFFFF_FFFFUL;
        }

        ulong inPage = linear & 0xFFF;
        if (inPage + last > 0xFFF) return null;
        n = Math.Min(n, down ? inPage / (ulong)size + 1 : (0x1000 - inPage) / (ulong)size);
        return Mmu.Probe(kind == AccessKind.Write ? _writeTlb : _readTlb, linear, size, state.Cpl == 3 ? 1UL : 0);
    }

    /// <summary>The checks of <see cref="X86Cpu"/>'s legacy segmentation other than the limit, answered without
    /// faulting; expand-down segments are left to the element loop.</summary>
    private static bool SegmentUsable(ref Segment s, AccessKind kind, ulong cr0)
    {
        if ((s.Type & 0xC) == 0x4) return false;
        if ((cr0 & ControlRegisters.Cr0Pe) == 0) return true;
        if (s.Unusable) return false;
        bool code = (s.Type & 8) != 0;
        return kind == AccessKind.Write ? !code && (s.Type & 2) != 0 : !code || (s.Type & 2) != 0;
    }
}
