using System.Runtime.CompilerServices;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>Linear to guest-physical translation (the first stage of the two-stage walk): 32-bit paging with
/// 4 MiB pages, PAE, and 4-level paging with 2 MiB and 1 GiB pages; accessed and dirty bits, U/S, R/W with
/// CR0.WP, NX, SMEP and SMAP, reserved-bit checks and #PF with its error code and CR2. The walk reads the
/// control registers from the vCPU's state block and records what the TLB entry made from it needs.</summary>
internal sealed unsafe partial class Mmu
{
    /// <summary>Physical address width this CPU model reports (CPUID 0x80000008).</summary>
    public const int PhysicalAddressBits = 40;

    private const ulong PtePresent = 1, PteWritable = 1 << 1, PteUser = 1 << 2, PteAccessed = 1 << 5, PteDirty = 1 << 6;
    private const ulong PteLarge = 1 << 7, PteGlobal = 1 << 8, PteNoExecute = 1UL << 63;
    public const ulong PhysicalMask = ((1UL << PhysicalAddressBits) - 1) & ~0xFFFUL;

    public const uint PfPresent = 1, PfWrite = 1 << 1, PfUser = 1 << 2, PfReserved = 1 << 3, PfFetch = 1 << 4;

    // What the last translation's final entry said, for the TLB entry made from it.
    private bool _translationGlobal, _translationNeedsAc;
    /// <summary>Log2 of the last translation's page when larger than 4 KiB, else 0.</summary>
    private byte _translationLargeShift;

    /// <summary>Translates a linear address or raises #PF (CR2 and the error code set).</summary>
    public ulong Translate(ref CpuState s, ulong linear, AccessKind kind, bool user)
    {
        _translationGlobal = false;
        _translationLargeShift = 0;
        _translationNeedsAc = false;
        if ((s.Cr0 & ControlRegisters.Cr0Pg) == 0) return linear & 0xFFFF_FFFF;
        if ((s.Efer & ControlRegisters.EferLma) != 0) return WalkLongMode(ref s, linear, kind, user);
        linear &= 0xFFFF_FFFF;
        return (s.Cr4 & ControlRegisters.Cr4Pae) != 0 ? WalkPae(ref s, linear, kind, user) : WalkLegacy(ref s, linear, kind, user);
    }

    private void NoteLeaf(ref CpuState s, ulong entry, int pageShift)
    {
        _translationGlobal = (entry & PteGlobal) != 0 && (s.Cr4 & ControlRegisters.Cr4Pge) != 0;
        _translationLargeShift = pageShift > 12 ? (byte)pageShift : (byte)0;
    }

    private ulong WalkLongMode(ref CpuState s, ulong linear, AccessKind kind, bool user)
    {
        if (!LinearAddress.IsCanonical(linear)) _fault.Raise(Vector.GP, 0); // callers check; a safety net
        return WalkLevels(ref s, linear, kind, user, s.Cr3 & PhysicalMask, topLevel: 4);
    }

    private ulong WalkPae(ref CpuState s, ulong linear, AccessKind kind, bool user)
    {
        // The four PDPTEs (architecturally loaded with CR3; read here): no R/W, U/S or NX at this level.
        ulong pdpte = Volatile.Read(ref *PageTableEntry((s.Cr3 & 0xFFFF_FFE0) + ((linear >> 30) << 3)));
        if ((pdpte & PtePresent) == 0) PageFault(ref s, linear, kind, user, 0);
        if ((pdpte & (0x1E6 | (ReservedHighBits(ref s) & ~PteNoExecute) | PteNoExecute)) != 0) PageFault(ref s, linear, kind, user, PfPresent | PfReserved);
        return WalkLevels(ref s, linear, kind, user, pdpte & PhysicalMask, topLevel: 2);
    }

    /// <summary>The 64-bit-entry walk shared by 4-level paging (from the PML4, level 4) and PAE (from the page
    /// directory, level 2): 9 index bits per level, 1 GiB (level 3) and 2 MiB (level 2) pages, rights ANDed and
    /// NX ORed over the levels, accessed bits on the way down and the dirty bit on the final entry.</summary>
    private ulong WalkLevels(ref CpuState s, ulong linear, AccessKind kind, bool user, ulong table, int topLevel)
    {
        ulong reserved = ReservedHighBits(ref s);
        ulong rights = PteWritable | PteUser; // AND of every level's R/W and U/S
        bool noExecute = false;
        // Level 1 always ends the walk (a 4 KiB page), so the loop needs no exit of its own.
        for (int level = topLevel; ; level--)
        {
            int shift = 12 + 9 * (level - 1);
            ulong* entry = PageTableEntry(table + (((linear >> shift) & 0x1FF) << 3));
            ulong e = Volatile.Read(ref *entry);
            if ((e & PtePresent) == 0) PageFault(ref s, linear, kind, user, 0);
            ulong bad = reserved;
            if (level == 4) bad |= PteLarge;
            bool large = level is 2 or 3 && (e & PteLarge) != 0;
            if (large) bad |= ((1UL << (shift - 13)) - 1) << 13; // address bits below the page size, above PAT
            if ((e & bad) != 0) PageFault(ref s, linear, kind, user, PfPresent | PfReserved);
            rights &= e;
            noExecute |= (e & PteNoExecute) != 0;
            if (large || level == 1)
            {
                // The final entry is marked accessed only by an access it allows (as hardware does: a
                // protection fault leaves its A bit clear); the levels above it already are.
                CheckAccess(ref s, linear, kind, user, rights, noExecute);
                SetAccessed(entry, e);
                SetDirty(entry, kind);
                NoteLeaf(ref s, e, shift);
                ulong pageMask = (1UL << shift) - 1;
                return (e & PhysicalMask & ~pageMask) | (linear & pageMask);
            }
            SetAccessed(entry, e);
            table = e & PhysicalMask;
        }
    }

    private ulong WalkLegacy(ref CpuState s, ulong linear, AccessKind kind, bool user)
    {
        uint* pde = (uint*)PageTableEntry32((s.Cr3 & 0xFFFF_F000) + ((linear >> 22) << 2));
        uint d = Volatile.Read(ref *pde);
        if ((d & PtePresent) == 0) PageFault(ref s, linear, kind, user, 0);
        ulong rights = d & (PteWritable | PteUser);
        if ((d & PteLarge) != 0 && (s.Cr4 & ControlRegisters.Cr4Pse) != 0)
        {
            // 4 MiB page; bits 13-20 carry physical address bits 32-39 (PSE-36), bit 21 is reserved.
            if ((d & (1u << 21)) != 0) PageFault(ref s, linear, kind, user, PfPresent | PfReserved);
            CheckAccess(ref s, linear, kind, user, rights, false);
            SetAccessed32(pde, d);
            if (kind == AccessKind.Write) SetBits32(pde, (uint)PteDirty);
            NoteLeaf(ref s, d, pageShift: 22);
            ulong high = (ulong)((d >> 13) & 0xFF) << 32;
            return high | (d & 0xFFC0_0000) | (linear & 0x3F_FFFF);
        }
        SetAccessed32(pde, d);
        uint* pte = (uint*)PageTableEntry32((d & 0xFFFF_F000) + (((linear >> 12) & 0x3FF) << 2));
        uint t = Volatile.Read(ref *pte);
        if ((t & PtePresent) == 0) PageFault(ref s, linear, kind, user, 0);
        rights &= t;
        CheckAccess(ref s, linear, kind, user, rights, false);
        SetAccessed32(pte, t);
        if (kind == AccessKind.Write) SetBits32(pte, (uint)PteDirty);
        NoteLeaf(ref s, t, pageShift: 12);
        return (t & 0xFFFF_F000) | (linear & 0xFFF);
    }

    /// <summary>Bits a PAE/4-level entry must keep clear: above the physical address width, and XD without EFER.NXE.</summary>
    private static ulong ReservedHighBits(ref CpuState s)
    {
        ulong bad = ~((1UL << PhysicalAddressBits) - 1) & ~PteNoExecute & ~(0x7FFUL << 52); // bits 52-62 are ignored
        if ((s.Efer & ControlRegisters.EferNxe) == 0) bad |= PteNoExecute;
        return bad;
    }

    private void CheckAccess(ref CpuState s, ulong linear, AccessKind kind, bool user, ulong rights, bool noExecute)
    {
        bool userPage = (rights & PteUser) != 0;
        bool writable = (rights & PteWritable) != 0;
        if (user)
        {
            if (!userPage || kind == AccessKind.Write && !writable || kind == AccessKind.Execute && noExecute)
                PageFault(ref s, linear, kind, user, PfPresent);
            return;
        }
        switch (kind)
        {
            case AccessKind.Write:
                if (!writable && (s.Cr0 & ControlRegisters.Cr0Wp) != 0) PageFault(ref s, linear, kind, user, PfPresent);
                break;
            case AccessKind.Execute:
                if (noExecute || userPage && (s.Cr4 & ControlRegisters.Cr4Smep) != 0) PageFault(ref s, linear, kind, user, PfPresent);
                return;
        }
        if (userPage && (s.Cr4 & ControlRegisters.Cr4Smap) != 0)
        {
            // SMAP: supervisor data accesses to user pages fault unless RFLAGS.AC allows them. AC changes without a
            // TLB flush, so the entry made from this translation is dropped when AC is cleared (Mmu.DropAcEntries):
            // the kernel's copies to and from user space (STAC ... CLAC) walk once per page, not once per access.
            if ((s.Rflags & RflagsBits.Ac) == 0) PageFault(ref s, linear, kind, user, PfPresent);
            _translationNeedsAc = true;
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void PageFault(ref CpuState s, ulong linear, AccessKind kind, bool user, uint code)
    {
        if (kind == AccessKind.Write) code |= PfWrite;
        if (user) code |= PfUser;
        if (kind == AccessKind.Execute && ((s.Efer & ControlRegisters.EferNxe) != 0 || (s.Cr4 & ControlRegisters.Cr4Smep) != 0))
            code |= PfFetch;
        s.Cr2 = linear;
        _fault.Raise(Vector.PF, code);
    }

    /// <summary>The entry at <paramref name="physical"/>; outside RAM (a hostile or broken CR3 or entry), all ones
    /// as hardware reads there, which the walk then faults on as the architecture defines.</summary>
    private ulong* PageTableEntry(ulong physical)
    {
        byte* p = _memory.TryGetPointer(physical, 8);
        return p != null ? (ulong*)p : (ulong*)UnbackedMemory.AllOnesPage;
    }

    private uint* PageTableEntry32(ulong physical)
    {
        byte* p = _memory.TryGetPointer(physical, 4);
        return p != null ? (uint*)p : (uint*)UnbackedMemory.AllOnesPage;
    }

    // Accessed and dirty bits are set atomically: other vCPUs walk and update the same tables.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SetAccessed(ulong* entry, ulong value)
    {
        if ((value & PteAccessed) == 0) Interlocked.Or(ref *entry, PteAccessed);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SetDirty(ulong* entry, AccessKind kind)
    {
        if (kind == AccessKind.Write && (Volatile.Read(ref *entry) & PteDirty) == 0) Interlocked.Or(ref *entry, PteDirty);
    }

    private static void SetAccessed32(uint* entry, uint value)
    {
        if ((value & PteAccessed) == 0) SetBits32(entry, (uint)PteAccessed);
    }

    private static void SetBits32(uint* entry, uint bits)
    {
        if ((Volatile.Read(ref *entry) & bits) != bits) Interlocked.Or(ref *entry, bits);
    }
}
