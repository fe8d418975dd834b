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
internal sealed class Tlb
{
    public const int Entries = 256;
    /// <summary>Pinned: translated code reads the entries at their address (see <see cref="Native.NativeContext"/>).</summary>
    public readonly TlbEntry[] E = GC.AllocateArray<TlbEntry>(Entries, pinned: true);
    public bool HoldsLargePages;

    public Tlb() => Flush();

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
