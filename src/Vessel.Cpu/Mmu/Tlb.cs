namespace Vessel.Cpu;

/// <summary>One entry of the software TLB: a guest linear page mapped straight to host memory.
/// <see cref="Tag"/> is the page address with bit 0 set for user-mode entries, so a lookup is one compare.</summary>
internal struct TlbEntry
{
    public const ulong Invalid = ulong.MaxValue;
    public ulong Tag;
    /// <summary>Host address minus linear address for this page.</summary>
    public long Delta;
    public ulong PhysicalPage;
    /// <summary>Came from a global page (CR4.PGE): survives CR3 writes.</summary>
    public bool Global;
    /// <summary>Log2 of the guest page this 4 KiB piece came from when that page is larger (21, 22 or 30); 0 for a
    /// 4 KiB page. INVLPG of any address in the large page drops the piece.</summary>
    public byte LargeShift;
}

/// <summary>A direct-mapped TLB for one kind of access (read, write or execute). Entries cover 4 KiB even
/// when the guest mapped a larger page; while <see cref="HoldsLargePages"/>, INVLPG looks at every slot that holds
/// such a piece, since one INVLPG must remove every piece of the large translation it hits (and only those: the
/// kernel's large direct map must not cost a process its 4 KiB translations at each INVLPG).</summary>
internal sealed unsafe class Tlb
{
    /// <summary>Log2 of <see cref="Entries"/>: 4,096 entries reach 16 MiB, so a process's heap, stack and code and
    /// the kernel's pages stop evicting each other (at 256 entries, 94 % of the misses of a Debian userland run were
    /// such conflicts, not cold entries after a flush).</summary>
    public const int EntryBits = 12;
    public const int Entries = 1 << EntryBits;
    /// <summary>Pinned: translated code reads the entries at their address (see <see cref="Native.NativeContext"/>).</summary>
    public readonly TlbEntry[] E = GC.AllocateArray<TlbEntry>(Entries, pinned: true);
    /// <summary><see cref="E"/>'s first entry: probes index from it without a bounds check.</summary>
    public readonly TlbEntry* EntryPointer;

    /// <summary>The slots filled with a piece of a large page since the last flush, each listed once
    /// (<see cref="_largeListed"/>): INVLPG visits these, not the table (a scan of 4,096 entries in each of three
    /// TLBs per INVLPG made kvm-unit-tests' access test 1.6 times slower than at 256 entries). A listed slot
    /// refilled with a 4 KiB page, or emptied, leaves the list at the next INVLPG that visits it.</summary>
    private readonly int[] _largeSlots = new int[Entries];
    private readonly bool[] _largeListed = new bool[Entries];
    private int _largeCount;

    public bool HoldsLargePages => _largeCount != 0;

    /// <summary>For tests: how many slots the last <see cref="FlushPage"/> looked at for large-page pieces.</summary>
    internal int SlotsVisitedByLastFlushPage { get; private set; }

    /// <summary>AC entries beyond this many make <see cref="DropAcEntries"/> flush everything.</summary>
    private const int MaxAcSlots = 32;
    private readonly int[] _acSlots = new int[MaxAcSlots];
    private int _acCount;

    /// <summary>The slots filled since the last flush (and the global ones a CR3 flush kept): a flush visits these,
    /// not the whole table, so its cost follows the fills, not the size. Past <see cref="Entries"/> notes (a slot
    /// refilled is noted again) a flush scans the table and rebuilds the list.</summary>
    private readonly int[] _filled = new int[Entries];
    private int _filledCount;

    /// <summary>Some entry is valid only while RFLAGS.AC is set (a supervisor access to a user page under SMAP).</summary>
    public bool HoldsAcEntries => _acCount != 0;

    public Tlb()
    {
        EntryPointer = (TlbEntry*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref E[0]);
        for (int i = 0; i < E.Length; i++) E[i].Tag = TlbEntry.Invalid;
    }

    /// <summary>The entry for <paramref name="linear"/> was just filled: the next flush must visit it.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public void NoteFilled(ulong linear)
    {
        if (_filledCount < Entries) _filled[_filledCount] = SlotOf(linear);
        _filledCount++;
    }

    /// <summary>The entry just filled for <paramref name="linear"/> is a piece of a large page: INVLPG must visit it.</summary>
    public void NoteLargePiece(ulong linear)
    {
        int slot = SlotOf(linear);
        if (_largeListed[slot]) return;
        _largeListed[slot] = true;
        _largeSlots[_largeCount++] = slot;
    }

    /// <summary>The entry just filled for <paramref name="linear"/> holds only while RFLAGS.AC is set.</summary>
    public void NoteAcEntry(ulong linear)
    {
        if (_acCount < MaxAcSlots) _acSlots[_acCount] = SlotOf(linear);
        _acCount++;
    }

    /// <summary>Invalidates every entry noted by <see cref="NoteAcEntry"/> (a slot refilled since is dropped too,
    /// which costs a walk and nothing else).</summary>
    public void DropAcEntries()
    {
        if (_acCount > MaxAcSlots)
        {
            Flush();
            return;
        }
        for (int i = 0; i < _acCount; i++) E[_acSlots[i]].Tag = TlbEntry.Invalid;
        _acCount = 0;
    }

    /// <summary>The one slot that may hold <paramref name="linear"/>'s entry (direct-mapped).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static int SlotOf(ulong linear) => (int)((linear >> 12) & (Entries - 1));

    /// <summary>The tag an entry for <paramref name="linear"/> carries: the page address, bit 0 for user mode.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static ulong TagOf(ulong linear, ulong userBit) => (linear & ~0xFFFUL) | userBit;

    /// <summary>The one entry that may map <paramref name="linear"/> (direct-mapped).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public ref TlbEntry EntryFor(ulong linear) => ref E[SlotOf(linear)];

    public void Flush()
    {
        if (_filledCount > Entries)
            for (int i = 0; i < E.Length; i++) E[i].Tag = TlbEntry.Invalid;
        else
            for (int i = 0; i < _filledCount; i++) E[_filled[i]].Tag = TlbEntry.Invalid;
        _filledCount = 0;
        for (int i = 0; i < _largeCount; i++) _largeListed[_largeSlots[i]] = false;
        _largeCount = 0;
        _acCount = 0;
    }

    /// <summary>A CR3 write with CR4.PGE set: global translations stay (and stay listed for the next flush).</summary>
    public void FlushNonGlobal()
    {
        int kept = 0;
        if (_filledCount > Entries)
        {
            for (int i = 0; i < E.Length; i++)
            {
                if (E[i].Tag == TlbEntry.Invalid) continue;
                if (E[i].Global) _filled[kept++] = i;
                else E[i].Tag = TlbEntry.Invalid;
            }
        }
        else
        {
            for (int i = 0; i < _filledCount; i++)
            {
                int slot = _filled[i];
                if (E[slot].Tag == TlbEntry.Invalid) continue;
                if (E[slot].Global) _filled[kept++] = slot;
                else E[slot].Tag = TlbEntry.Invalid;
            }
        }
        _filledCount = kept;
    }

    public void FlushPage(ulong linear)
    {
        ref TlbEntry e = ref E[SlotOf(linear)];
        if ((e.Tag & ~0xFFFUL) == (linear & ~0xFFFUL)) e.Tag = TlbEntry.Invalid;
        SlotsVisitedByLastFlushPage = 0;
        if (HoldsLargePages) FlushLargePagesHolding(linear);
    }

    /// <summary>Drops every piece of a large page that contains <paramref name="linear"/>, and unlists the slots
    /// that no longer hold a piece.</summary>
    private void FlushLargePagesHolding(ulong linear)
    {
        SlotsVisitedByLastFlushPage = _largeCount;
        int kept = 0;
        for (int i = 0; i < _largeCount; i++)
        {
            int slot = _largeSlots[i];
            ref TlbEntry e = ref E[slot];
            int shift = e.LargeShift;
            if (shift != 0 && e.Tag != TlbEntry.Invalid)
            {
                if (((e.Tag ^ linear) >> shift) != 0)
                {
                    _largeSlots[kept++] = slot;
                    continue;
                }
                e.Tag = TlbEntry.Invalid;
            }
            _largeListed[slot] = false;
        }
        _largeCount = kept;
    }
}
