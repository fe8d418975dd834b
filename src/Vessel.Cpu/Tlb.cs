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
}

/// <summary>A direct-mapped TLB for one kind of access (read, write or execute).</summary>
internal sealed class Tlb
{
    public const int Entries = 256;
    public readonly TlbEntry[] E = new TlbEntry[Entries];

    public Tlb() => Flush();

    public void Flush()
    {
        for (int i = 0; i < E.Length; i++) E[i].Tag = TlbEntry.Invalid;
    }

    public void FlushPage(ulong linear)
    {
        ref TlbEntry e = ref E[(linear >> 12) & (Entries - 1)];
        if ((e.Tag & ~0xFFFUL) == (linear & ~0xFFFUL)) e.Tag = TlbEntry.Invalid;
    }
}
