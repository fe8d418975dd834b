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
}

/// <summary>A direct-mapped TLB for one kind of access (read, write or execute). Entries cover 4 KiB even
/// when the guest mapped a larger page; <see cref="HoldsLargePages"/> makes INVLPG drop everything, since
/// one INVLPG must remove every piece of the large translation it hits.</summary>
internal sealed unsafe class Tlb
{
    public const int Entries = 256;
    /// <summary>Pinned: translated code reads the entries at their address (see <see cref="Native.NativeContext"/>).</summary>
    public readonly TlbEntry[] E = GC.AllocateArray<TlbEntry>(Entries, pinned: true);
    /// <summary><see cref="E"/>'s first entry: probes index from it without a bounds check.</summary>
    public readonly TlbEntry* EntryPointer;
    public bool HoldsLargePages;

    /// <summary>AC entries beyond this many make <see cref="DropAcEntries"/> flush everything.</summary>
    private const int MaxAcSlots = 32;
    private readonly int[] _acSlots = new int[MaxAcSlots];
    private int _acCount;

    /// <summary>Some entry is valid only while RFLAGS.AC is set (a supervisor access to a user page under SMAP).</summary>
    public bool HoldsAcEntries => _acCount != 0;

    public Tlb()
    {
        EntryPointer = (TlbEntry*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref E[0]);
        Flush();
    }

    /// <summary>The entry just filled for <paramref name="linear"/> holds only while RFLAGS.AC is set.</summary>
    public void NoteAcEntry(ulong linear)
    {
        if (_acCount < MaxAcSlots) _acSlots[_acCount] = (int)((linear >> 12) & (Entries - 1));
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

    /// <summary>The tag an entry for <paramref name="linear"/> carries: the page address, bit 0 for user mode.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static ulong TagOf(ulong linear, ulong userBit) => (linear & ~0xFFFUL) | userBit;

    /// <summary>The one entry that may map <paramref name="linear"/> (direct-mapped).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public ref TlbEntry EntryFor(ulong linear) => ref E[(linear >> 12) & (Entries - 1)];

    public void Flush()
    {
        for (int i = 0; i < E.Length; i++) E[i].Tag = TlbEntry.Invalid;
        HoldsLargePages = false;
        _acCount = 0;
    }

    /// <summary>A CR3 write with CR4.PGE set: global translations stay.</summary>
    public void FlushNonGlobal()
    {
        for (int i = 0; i < E.Length; i++)
            if (!E[i].Global) E[i].Tag = TlbEntry.Invalid;
    }

    public void FlushPage(ulong linear)
    {
        if (HoldsLargePages)
        {
            Flush();
            return;
        }
        ref TlbEntry e = ref E[(linear >> 12) & (Entries - 1)];
        if ((e.Tag & ~0xFFFUL) == (linear & ~0xFFFUL)) e.Tag = TlbEntry.Invalid;
    }
}
