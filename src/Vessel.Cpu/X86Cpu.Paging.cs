using System.Runtime.CompilerServices;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>Linear to guest-physical translation (the first stage of the two-stage walk): 32-bit, PAE and
/// 4-level paging with 4 KiB, 2/4 MiB and 1 GiB pages, accessed/dirty bits, U/S, R/W with CR0.WP, NX,
/// SMEP/SMAP and global pages.</summary>
internal sealed unsafe partial class X86Cpu
{
    /// <summary>Physical address width this CPU model reports (CPUID 0x80000008).</summary>
    internal const int PhysicalAddressBits = 40;
    private const ulong PhysicalFrameMask = ((1UL << PhysicalAddressBits) - 1) & ~0xFFFUL;
    /// <summary>Bits 51:MAXPHYADDR of a PAE/4-level entry.</summary>
    private const ulong HighReservedMask = ((1UL << 52) - 1) & ~((1UL << PhysicalAddressBits) - 1);

    private const ulong PtePresent = 1, PteWritable = 2, PteUser = 4, PteAccessed = 0x20, PteDirty = 0x40;
    private const ulong PtePageSize = 0x80, PteGlobal = 0x100, PteNoExecute = 1UL << 63;

    public const uint PfPresent = 1, PfWrite = 2, PfUser = 4, PfReserved = 8, PfFetch = 16;

    // What the last Translate found, for the TLB fill that follows it.
    private bool _walkGlobal, _walkLarge, _walkCacheable;

    /// <summary>Translates a linear address or raises #PF (CR2 and the error code set). Sets the accessed
    /// bits of the entries used and, for writes, the dirty bit of the final entry.</summary>
    internal ulong Translate(ulong linear, AccessKind kind, bool user)
    {
        _walkGlobal = false;
        _walkLarge = false;
        _walkCacheable = true;
        if ((Cr0 & ControlRegisters.Cr0Pg) == 0) return linear & 0xFFFF_FFFF;
        if ((Efer & ControlRegisters.EferLma) != 0) return WalkPae(linear, kind, user, levels: 4);
        if ((Cr4 & ControlRegisters.Cr4Pae) != 0) return WalkPae(linear & 0xFFFF_FFFF, kind, user, levels: 3);
        return Walk32(linear & 0xFFFF_FFFF, kind, user);
    }

    /// <summary>PAE (3 levels, the first one the 4 PDPTEs) or 4-level paging.</summary>
    private ulong WalkPae(ulong linear, AccessKind kind, bool user, int levels)
    {
        bool nxe = (Efer & ControlRegisters.EferNxe) != 0;
        ulong nxReserved = nxe ? 0 : PteNoExecute;
        ulong table = levels == 4 ? Cr3 & PhysicalFrameMask : Cr3 & 0xFFFF_FFE0;
        ulong** entries = stackalloc ulong*[4];
        int used = 0;
        bool writable = true, userOk = true, noExecute = false;
        for (int level = levels; ; level--)
        {
            int shift = 12 + 9 * (level - 1);
            ulong index = levels == 3 && level == 3 ? (linear >> 30) & 3 : (linear >> shift) & 0x1FF;
            ulong* p = (ulong*)_memory.TryGetPointer(table + index * 8, 8);
            ulong e = p == null ? 0 : Volatile.Read(ref *p);
            if ((e & PtePresent) == 0) PageFault(linear, kind, user, 0);
            entries[used++] = p;
            if (levels == 3 && level == 3)
            {
                // PAE PDPTE: no access rights; bits 2:1, 8:5 and 63:MAXPHYADDR are reserved.
                if ((e & (0x1E6UL | ~((1UL << PhysicalAddressBits) - 1))) != 0) PageFault(linear, kind, user, PfPresent | PfReserved);
                used--; // PDPTEs have no accessed bit to set in the walk
                table = e & PhysicalFrameMask;
                continue;
            }
            ulong reserved = (levels == 4 ? HighReservedMask : HighReservedMask | 0x7FF0_0000_0000_0000UL) | nxReserved;
            bool leaf = level == 1 || (e & PtePageSize) != 0;
            if (level == 4 && (e & PtePageSize) != 0) reserved |= PtePageSize;
            if (leaf && level == 3) reserved |= 0x3FFF_E000UL; // 1 GiB page: bits 29:13
            if (leaf && level == 2) reserved |= 0x1F_E000UL;   // 2 MiB page: bits 20:13
            if ((e & reserved) != 0) PageFault(linear, kind, user, PfPresent | PfReserved);
            writable &= (e & PteWritable) != 0;
            userOk &= (e & PteUser) != 0;
            noExecute |= nxe && (e & PteNoExecute) != 0;
            if (!leaf)
            {
                table = e & PhysicalFrameMask;
                continue;
            }
            ulong offsetMask = (1UL << shift) - 1;
            CheckAccess(linear, kind, user, writable, userOk, noExecute);
            SetAccessedAndDirty(entries, used, kind == AccessKind.Write);
            _walkGlobal = (e & PteGlobal) != 0 && (Cr4 & ControlRegisters.Cr4Pge) != 0;
            _walkLarge = level > 1;
            return (e & PhysicalFrameMask & ~offsetMask) | (linear & offsetMask);
        }
    }

    /// <summary>Legacy 32-bit paging, with 4 MiB pages under CR4.PSE (PSE-36: PDE bits 20:13 are
    /// physical bits 39:32, bit 21 is reserved).</summary>
    private ulong Walk32(ulong linear, AccessKind kind, bool user)
    {
        uint* pdeP = (uint*)_memory.TryGetPointer((Cr3 & 0xFFFF_F000) + ((linear >> 22) << 2), 4);
        uint pde = pdeP == null ? 0 : Volatile.Read(ref *pdeP);
        if ((pde & PtePresent) == 0) PageFault(linear, kind, user, 0);
        if ((pde & PtePageSize) != 0 && (Cr4 & ControlRegisters.Cr4Pse) != 0)
        {
            if ((pde & (1u << 21)) != 0) PageFault(linear, kind, user, PfPresent | PfReserved);
            CheckAccess(linear, kind, user, (pde & PteWritable) != 0, (pde & PteUser) != 0, false);
            SetBits32(pdeP, kind == AccessKind.Write ? PteAccessed | PteDirty : PteAccessed);
            _walkGlobal = (pde & PteGlobal) != 0 && (Cr4 & ControlRegisters.Cr4Pge) != 0;
            _walkLarge = true;
            ulong frame = (pde & 0xFFC0_0000UL) | ((ulong)((pde >> 13) & 0xFF) << 32);
            return frame | (linear & 0x3F_FFFF);
        }
        uint* pteP = (uint*)_memory.TryGetPointer((pde & 0xFFFF_F000) + (((linear >> 12) & 0x3FF) << 2), 4);
        uint pte = pteP == null ? 0 : Volatile.Read(ref *pteP);
        if ((pte & PtePresent) == 0) PageFault(linear, kind, user, 0);
        CheckAccess(linear, kind, user, (pde & pte & PteWritable) != 0, (pde & pte & PteUser) != 0, false);
        SetBits32(pdeP, PteAccessed);
        SetBits32(pteP, kind == AccessKind.Write ? PteAccessed | PteDirty : PteAccessed);
        _walkGlobal = (pte & PteGlobal) != 0 && (Cr4 & ControlRegisters.Cr4Pge) != 0;
        return (pte & 0xFFFF_F000UL) | (linear & 0xFFF);
    }

    /// <summary>The permission checks once the final entry is known: U/S, R/W (CR0.WP), NX, SMEP, SMAP.</summary>
    private void CheckAccess(ulong linear, AccessKind kind, bool user, bool writable, bool userPage, bool noExecute)
    {
        bool write = kind == AccessKind.Write, fetch = kind == AccessKind.Execute;
        if (fetch && noExecute) PageFault(linear, kind, user, PfPresent);
        if (user)
        {
            if (!userPage || (write && !writable)) PageFault(linear, kind, user, PfPresent);
            return;
        }
        if (write && !writable && (Cr0 & ControlRegisters.Cr0Wp) != 0) PageFault(linear, kind, user, PfPresent);
        if (!userPage) return;
        if (fetch)
        {
            if ((Cr4 & ControlRegisters.Cr4Smep) != 0) PageFault(linear, kind, user, PfPresent);
            return;
        }
        if ((Cr4 & ControlRegisters.Cr4Smap) != 0)
        {
            // A supervisor access at CPL 3 is implicit (descriptor tables, TSS): RFLAGS.AC does not help it.
            bool implicitAccess = Cpl == 3;
            if (implicitAccess || (_rflags & RflagsBits.Ac) == 0) PageFault(linear, kind, user, PfPresent);
            _walkCacheable = false; // allowed only while AC stays set
        }
    }

    private static void SetAccessedAndDirty(ulong** entries, int count, bool write)
    {
        for (int i = 0; i < count; i++)
        {
            ulong bits = write && i == count - 1 ? PteAccessed | PteDirty : PteAccessed;
            ulong* p = entries[i];
            if ((Volatile.Read(ref *p) & bits) != bits) Interlocked.Or(ref *p, bits);
        }
    }

    private static void SetBits32(uint* p, ulong bits)
    {
        if ((Volatile.Read(ref *p) & (uint)bits) != (uint)bits) Interlocked.Or(ref *p, (uint)bits);
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void PageFault(ulong linear, AccessKind kind, bool user, uint code)
    {
        if (kind == AccessKind.Write) code |= PfWrite;
        if (user) code |= PfUser;
        bool nxPaging = (Cr4 & ControlRegisters.Cr4Pae) != 0 && (Efer & ControlRegisters.EferNxe) != 0;
        if (kind == AccessKind.Execute && (nxPaging || (Cr4 & ControlRegisters.Cr4Smep) != 0)) code |= PfFetch;
        Cr2 = linear;
        Fault(Vector.PF, code);
    }

    /// <summary>Caches the translation <see cref="Translate"/> just made in <paramref name="tlb"/>; false when
    /// it must not be cached (an access SMAP allowed only because RFLAGS.AC is set).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool FillTlb(Tlb tlb, ulong linear, byte* page, ulong phys, bool user)
    {
        if (!_walkCacheable) return false;
        ref TlbEntry e = ref tlb.E[(linear >> 12) & (Tlb.Entries - 1)];
        e.Tag = (linear & ~0xFFFUL) | (user ? 1UL : 0);
        e.Delta = (long)page - (long)(linear & ~0xFFFUL);
        e.PhysicalPage = phys & ~0xFFFUL;
        e.Global = _walkGlobal;
        if (_walkLarge) tlb.HoldsLargePages = true;
        return true;
    }

    /// <summary>A CR3 write: drops every translation, except global ones while CR4.PGE is set.</summary>
    private void FlushTlbForCr3Write()
    {
        if ((Cr4 & ControlRegisters.Cr4Pge) == 0)
        {
            FlushTlb();
            return;
        }
        _translationEpoch++;
        _tlbRead.FlushNonGlobal(); _tlbWrite.FlushNonGlobal(); _tlbExec.FlushNonGlobal();
    }

    private static ulong ReadHost(byte* p, int size) => size switch
    {
        1 => *p,
        2 => Unsafe.ReadUnaligned<ushort>(p),
        4 => Unsafe.ReadUnaligned<uint>(p),
        _ => Unsafe.ReadUnaligned<ulong>(p),
    };
}
