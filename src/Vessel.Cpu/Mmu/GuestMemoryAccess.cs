using System.Runtime.CompilerServices;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>One vCPU's loads and stores at linear addresses (segmentation already applied by the CPU): the TLB
/// fast path (<see cref="Mmu.ProbeEntries"/>), then on a miss the page walk
/// (<see cref="Translate"/>), the TLB fill, page-crossing accesses split after both pages are known good, writes to
/// pages holding decoded code, and accesses outside RAM, which go to the vCPU's device exits.</summary>
internal sealed unsafe class GuestMemoryAccess
{
    private readonly X86Cpu _cpu;
    private readonly Mmu _mmu;
    private readonly GuestMemory _memory;
    private readonly CodePageMap _code;
    // The read and write TLBs' entries: a probe loads the pointer, then the entry (not the Tlb, then its array).
    private readonly TlbEntry* _readEntries, _writeEntries;

    public GuestMemoryAccess(X86Cpu cpu, Mmu mmu, GuestMemory memory, CodePageMap code)
    {
        _cpu = cpu;
        _mmu = mmu;
        _memory = memory;
        _code = code;
        _readEntries = mmu.Read.EntryPointer;
        _writeEntries = mmu.Write.EntryPointer;
    }

    /// <summary>Translates a linear address or raises #PF (CR2 and the error code set); counted as a TLB miss
    /// when the profiler is on.</summary>
    public ulong Translate(ulong linear, AccessKind kind, bool user) =>
        EmuProfiler.Enabled ? ProfiledTranslate(linear, kind, user) : _mmu.Translate(ref _cpu.State, linear, kind, user);

    private ulong ProfiledTranslate(ulong linear, AccessKind kind, bool user)
    {
        if ((_cpu.State.Cr0 & ControlRegisters.Cr0Pg) == 0) return _mmu.Translate(ref _cpu.State, linear, kind, user);
        byte mode = _cpu.ProfMode;
        _cpu.ProfMode = (byte)ProfileMode.Walk;
        switch (kind)
        {
            case AccessKind.Read: _cpu.Counters.TlbMissRead++; break;
            case AccessKind.Write: _cpu.Counters.TlbMissWrite++; break;
            default: _cpu.Counters.TlbMissExec++; break;
        }
        ulong phys = _mmu.Translate(ref _cpu.State, linear, kind, user);
        _cpu.ProfMode = mode;
        return phys;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong ReadLinear(ulong linear, int size, bool user)
    {
        byte* p = Mmu.ProbeEntries(_readEntries, linear, size, user ? 1UL : 0);
        if (p != null) return ReadHost(p, size);
        return ReadLinearSlow(linear, size, user);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteLinear(ulong linear, int size, ulong value, bool user)
    {
        byte* p = Mmu.ProbeEntries(_writeEntries, linear, size, user ? 1UL : 0);
        if (p != null)
        {
            WriteHost(p, size, value);
            return;
        }
        WriteLinearSlow(linear, size, value, user);
    }

    /// <summary>Raises the fault a write of <paramref name="size"/> bytes at <paramref name="linear"/> would
    /// raise, without writing (the write TLB answers without a walk when it already holds the page).</summary>
    public void ProbeWritable(ulong linear, int size, bool user)
    {
        if (Mmu.ProbeEntries(_writeEntries, linear, size, user ? 1UL : 0) != null) return;
        Translate(linear, AccessKind.Write, user);
        if ((linear & 0xFFF) > (ulong)(4096 - size)) Translate((linear | 0xFFF) + 1, AccessKind.Write, user);
    }

    public void FillWriteTlb(ulong linear, ulong phys, byte* page, bool user) => _mmu.Fill(_mmu.Write, linear, phys, page, user);

    /// <summary>Host pointer for a guest-physical RAM address, or null (MMIO / unbacked).</summary>
    public byte* PhysicalPointer(ulong phys, int size) => _memory.TryGetPointer(phys, (ulong)size);

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
        if (page == null) return _cpu.ReadPhysicalMmio(phys, size);
        _mmu.Fill(_mmu.Read, linear, phys, page, user);
        return ReadHost(page + (phys & 0xFFF), size);
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
            _cpu.WritePhysicalMmio(phys, size, value);
            return;
        }
        if (_code.IsCode(phys))
        {
            // Decoded code lives here: write without caching the page, and drop the stale decode.
            WriteHost(page + (phys & 0xFFF), size, value);
            if (EmuProfiler.Enabled) _cpu.Counters.CodeWriteInvalidations++;
            _code.Invalidate(phys);
            _cpu.EndBlockAfterCodeWrite();
            return;
        }
        FillWriteTlb(linear, phys, page, user);
        WriteHost(page + (phys & 0xFFF), size, value);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ReadHost(byte* p, int size) => size switch
    {
        1 => *p,
        2 => Unsafe.ReadUnaligned<ushort>(p),
        4 => Unsafe.ReadUnaligned<uint>(p),
        _ => Unsafe.ReadUnaligned<ulong>(p),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteHost(byte* p, int size, ulong value)
    {
        switch (size)
        {
            case 1: *p = (byte)value; break;
            case 2: Unsafe.WriteUnaligned(p, (ushort)value); break;
            case 4: Unsafe.WriteUnaligned(p, (uint)value); break;
            default: Unsafe.WriteUnaligned(p, value); break;
        }
    }
}
