using System.Runtime.CompilerServices;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>One vCPU's memory-management unit: the read, write and execute TLBs, the page walk that fills them
/// (<see cref="Translate"/>), the fills and the flushes. Every TLB lookup -- the interpreter's loads and stores,
/// the locked instructions', and the inline loads and stores of compiled blocks -- is <see cref="Probe"/>.</summary>
internal sealed unsafe partial class Mmu(GuestMemory memory, CpuFault fault)
{
    private readonly GuestMemory _memory = memory;
    private readonly CpuFault _fault = fault;

    public readonly Tlb Read = new(), Write = new(), Exec = new();

    /// <summary>The host address of an access of <paramref name="size"/> bytes at <paramref name="linear"/> when
    /// <paramref name="tlb"/> maps its page and it stays inside that page; otherwise null (the caller walks).
    /// <paramref name="userBit"/> is 1 for a user-mode access. A hit also proves the address canonical: TLBs are
    /// only filled from canonical addresses.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte* Probe(Tlb tlb, ulong linear, int size, ulong userBit) => ProbeEntries(tlb.EntryPointer, linear, size, userBit);

    /// <summary><see cref="Probe"/> on a TLB's entries (<see cref="Tlb.EntryPointer"/>) held by the caller.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte* ProbeEntries(TlbEntry* entries, ulong linear, int size, ulong userBit)
    {
        ref TlbEntry e = ref entries[(linear >> 12) & (Tlb.Entries - 1)];
        if (e.Tag == Tlb.TagOf(linear, userBit) && (linear & 0xFFF) <= (ulong)(4096 - size))
            return (byte*)((long)linear + e.Delta);
        return null;
    }

    /// <summary>Maps <paramref name="linear"/>'s page in <paramref name="tlb"/> to the host page of the
    /// translation just made (<paramref name="phys"/>, at host <paramref name="page"/>). A write translation fills
    /// the read TLB too: a page the access may write it may read (the same U/S, and SMAP's AC rule is the same for
    /// both), and what a program writes it mostly reads back soon (the stack a CALL pushed, a RET pops).</summary>
    public void Fill(Tlb tlb, ulong linear, ulong phys, byte* page, bool user)
    {
        FillOne(tlb, linear, phys, page, user);
        if (tlb == Write) FillOne(Read, linear, phys, page, user);
    }

    private void FillOne(Tlb tlb, ulong linear, ulong phys, byte* page, bool user)
    {
        ref TlbEntry e = ref tlb.EntryFor(linear);
        e.Tag = Tlb.TagOf(linear, user ? 1UL : 0);
        e.Delta = (long)page - (long)(linear & ~0xFFFUL);
        e.PhysicalPage = phys & ~0xFFFUL;
        NoteFill(tlb, ref e, linear);
        if (_translationNeedsAc) tlb.NoteAcEntry(linear);
    }

    /// <summary>RFLAGS.AC is now clear: the supervisor translations of user pages that SMAP allowed only because it
    /// was set go (data accesses only: SMAP does not apply to fetches).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void DropAcEntries()
    {
        if (Read.HoldsAcEntries) Read.DropAcEntries();
        if (Write.HoldsAcEntries) Write.DropAcEntries();
    }

    /// <summary>The execute-TLB entry for <paramref name="linear"/> after a translation to <paramref name="phys"/>.
    /// Code outside RAM (<paramref name="page"/> null) reads as 0xFF bytes (see <see cref="UnbackedMemory"/>):
    /// such an entry is returned but not kept (its tag stays invalid), so RAM mapped there later is seen.</summary>
    public ref TlbEntry FillExec(ulong linear, ulong phys, byte* page, bool user)
    {
        ref TlbEntry e = ref Exec.EntryFor(linear);
        e.Delta = (long)(page != null ? page : UnbackedMemory.AllOnesPage) - (long)(linear & ~0xFFFUL);
        e.PhysicalPage = phys & ~0xFFFUL;
        if (page == null)
        {
            e.Tag = TlbEntry.Invalid;
            return ref e;
        }
        e.Tag = Tlb.TagOf(linear, user ? 1UL : 0);
        NoteFill(Exec, ref e, linear);
        return ref e;
    }

    /// <summary>Completes a TLB entry just filled from the last translation: global pages survive CR3 writes,
    /// and a TLB holding pieces of a large page must drop everything on INVLPG.</summary>
    private void NoteFill(Tlb tlb, ref TlbEntry e, ulong linear)
    {
        tlb.NoteFilled(linear);
        e.Global = _translationGlobal;
        e.LargeShift = _translationLargeShift;
        if (_translationLargeShift != 0) tlb.NoteLargePiece(linear);
    }

    public void Flush()
    {
        Read.Flush(); Write.Flush(); Exec.Flush();
    }

    public void FlushPage(ulong linear)
    {
        Read.FlushPage(linear); Write.FlushPage(linear); Exec.FlushPage(linear);
    }

    /// <summary>A CR3 write: drops every translation, except global ones while CR4.PGE is set.</summary>
    public void FlushForCr3Write(ref CpuState s)
    {
        if ((s.Cr4 & ControlRegisters.Cr4Pge) == 0)
        {
            Flush();
            return;
        }
        Read.FlushNonGlobal(); Write.FlushNonGlobal(); Exec.FlushNonGlobal();
    }
}
