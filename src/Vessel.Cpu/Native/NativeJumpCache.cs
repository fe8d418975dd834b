using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Vessel.Cpu.Native;

/// <summary>One slot of a <see cref="NativeJumpCache"/>, as translated code reads it.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct JumpCacheEntry
{
    /// <summary>The guest RIP the block starts at, or <see cref="NativeJumpCache.Empty"/>.</summary>
    public ulong Rip;
    public nint ChainEntry;
    /// <summary>The block's page generation in the <see cref="CodePageMap"/>, and the value it was decoded under.</summary>
    public long* Generation;
    public long ExpectedGeneration;
}

/// <summary>A vCPU's guest RIP → translated block map in pinned memory, read by translated code at exits whose target
/// is not a constant in the block's own page (RET, indirect JMP/CALL, branches to another page): a hit jumps to the
/// target's chain entry without returning to the run loop; a miss returns as before, and the run loop puts the block
/// it then runs here.
/// <para>The block cache finds a block by guest-physical address, start RIP and decode mode, checked against the
/// execute TLB (tagged with the user bit) and the page's code generation. A slot keeps what that check needs: it is
/// filled only for a block the run loop has just checked; translated code compares the page's generation (a write
/// to the page leaves the slot dead); there is one bank of slots per privilege level (supervisor, user: the execute
/// check differs between them), and translated code is pointed at the bank of the level it runs at, so a SYSCALL,
/// SYSRET, IRET or interrupt keeps both; the whole cache is cleared when the vCPU's translation epoch (INVLPG, TLB
/// flushes, CR0/CR4/EFER writes, bitness changes) or the code map's epoch moves, but a CR3 write alone keeps the
/// blocks whose page the execute TLB held as global (CR4.PGE: the TLB keeps such a translation across CR3 writes
/// too, as the architecture allows); and a block's slot is cleared when the block loses its translation (eviction,
/// re-decode, flush). Direct-mapped by <see cref="SlotOf"/>, which
/// translated code computes the same way. Only the owning vCPU's thread writes it, outside translated code.</para></summary>
internal sealed unsafe class NativeJumpCache
{
    /// <summary>16,384 slots a bank (1 MiB pinned per vCPU with both banks): with 4,096, the kernel's targets during a
    /// network upload shared slots so often that 21,000 exits per MiB uploaded were misses on a slot another target
    /// held (3,600 with 16,384; NativeJumpCacheCapacityTests).</summary>
    public const int SlotBits = 14, Slots = 1 << SlotBits;

    /// <summary>Non-canonical: no target RIP ever equals it.</summary>
    public const ulong Empty = 0x8000_0000_0000_0000UL;

    /// <summary>The supervisor bank, then the user bank.</summary>
    private readonly JumpCacheEntry[] _entries = GC.AllocateArray<JumpCacheEntry>(2 * Slots, pinned: true);

    /// <summary>Slots (of either bank) filled since the last clear, so a clear touches only those (CR3 writes clear
    /// it often).</summary>
    private readonly int[] _filled = new int[2 * Slots];
    private int _filledCount;
    private long _codeEpoch = -1, _globalEpoch = -1;

    /// <summary>Per slot: the block's page was a global translation when it was put there.</summary>
    private readonly bool[] _global = new bool[2 * Slots];

    /// <summary>The translation epoch the slots were filled under.</summary>
    public long TranslationEpoch { get; private set; } = -1;

    /// <summary>Blocks put in the cache.</summary>
    internal long Fills;

    public NativeJumpCache()
    {
        for (int i = 0; i < 2 * Slots; i++) _entries[i].Rip = Empty;
    }

    /// <summary>The bank translated code running at CPL 3 (<paramref name="user"/>) or below looks targets up in.</summary>
    public JumpCacheEntry* Base(bool user) => (JumpCacheEntry*)Unsafe.AsPointer(ref _entries[BankStart(user)]);

    private static int BankStart(bool user) => user ? Slots : 0;

    public static int EntryBytes => sizeof(JumpCacheEntry);

    /// <summary>Byte offsets of an entry's fields, computed from the struct itself.</summary>
    public static readonly int RipOffset, ChainEntryOffset, GenerationOffset, ExpectedGenerationOffset;

    static NativeJumpCache()
    {
        JumpCacheEntry e;
        byte* at = (byte*)&e;
        RipOffset = (int)((byte*)&e.Rip - at);
        ChainEntryOffset = (int)((byte*)&e.ChainEntry - at);
        GenerationOffset = (int)((byte*)&e.Generation - at);
        ExpectedGenerationOffset = (int)((byte*)&e.ExpectedGeneration - at);
    }

    /// <summary>The slot of <paramref name="rip"/>: its offset in the page XOR the top bits of its page number times
    /// a golden-ratio constant (functions start at the same offsets of many pages).</summary>
    public static int SlotOf(ulong rip) => (int)((((uint)(rip >> 12) * PageMultiplier) >> (32 - SlotBits)) ^ (uint)rip) & (Slots - 1);

    public const uint PageMultiplier = 0x9E37_79B1;

    /// <summary>Clears everything if the translation or code epoch is not the one the slots were filled under, but
    /// keeps the global blocks if only CR3 writes moved the translation epoch (<paramref name="globalEpoch"/>, which
    /// every other invalidation moves too, is the one they were filled under).</summary>
    public void Revalidate(long translationEpoch, long globalEpoch, long codeEpoch)
    {
        if (translationEpoch == TranslationEpoch && codeEpoch == _codeEpoch) return;
        bool keepGlobal = globalEpoch == _globalEpoch && codeEpoch == _codeEpoch;
        TranslationEpoch = translationEpoch;
        _globalEpoch = globalEpoch;
        _codeEpoch = codeEpoch;
        if (keepGlobal) ClearNonGlobal();
        else Clear();
    }

    /// <summary>Empties the slots of blocks that were not global translations.</summary>
    private void ClearNonGlobal()
    {
        if (_filledCount == _filled.Length)
        {
            // The list may have missed slots: sweep them all, and list the ones kept.
            _filledCount = 0;
            for (int i = 0; i < 2 * Slots; i++)
            {
                if (_entries[i].Rip == Empty) continue;
                if (_global[i]) _filled[_filledCount++] = i;
                else _entries[i].Rip = Empty;
            }
            return;
        }
        int kept = 0;
        for (int i = 0; i < _filledCount; i++)
        {
            int slot = _filled[i];
            if (_entries[slot].Rip == Empty) continue;
            if (_global[slot]) _filled[kept++] = slot;
            else _entries[slot].Rip = Empty;
        }
        _filledCount = kept;
    }

    public void Clear()
    {
        if (_filledCount >= Slots / 2 || _filledCount == _filled.Length)
        {
            for (int i = 0; i < 2 * Slots; i++) _entries[i].Rip = Empty;
        }
        else
        {
            for (int i = 0; i < _filledCount; i++) _entries[_filled[i]].Rip = Empty;
        }
        _filledCount = 0;
    }

    /// <summary>Whether <paramref name="native"/> is in its slot of the bank of <paramref name="user"/>'s level as the
    /// block it is now (the run loop's check before <see cref="Put"/>).</summary>
    public bool Holds(NativeBlock native, bool user)
    {
        ref JumpCacheEntry e = ref _entries[BankStart(user) + SlotOf(native.Owner.StartRip)];
        return e.Rip == native.Owner.StartRip && e.ChainEntry == native.ChainEntry && e.ExpectedGeneration == native.Owner.Generation;
    }

    /// <summary>Puts <paramref name="native"/>, which the run loop has just found valid at the current RIP and privilege
    /// level (<paramref name="user"/>: CPL 3), in its slot of that level's bank, if its first page's generation, which the code map
    /// keeps at <paramref name="generation"/>, covers it (a block running into a second page is covered too: see
    /// <see cref="CodePageMap.MarkCodeRunningInto"/>); <paramref name="global"/>: the execute TLB
    /// holds its page as a global translation.</summary>
    public void Put(NativeBlock native, long* generation, bool user, bool global)
    {
        DecodedBlock block = native.Owner;
        if (generation == null || !block.Cacheable) return;
        int slot = BankStart(user) + SlotOf(block.StartRip);
        ref JumpCacheEntry e = ref _entries[slot];
        if (e.Rip == Empty && _filledCount < _filled.Length) _filled[_filledCount++] = slot;
        // A CR3 write may remap a second page even where the first is global.
        _global[slot] = global && block.SecondPage == DecodedBlock.NoSecondPage;
        e.Rip = block.StartRip;
        e.ChainEntry = native.ChainEntry;
        e.Generation = generation;
        e.ExpectedGeneration = block.Generation;
        Fills++;
    }

    /// <summary>Profiler: what <paramref name="rip"/>'s slot in the bank of <paramref name="user"/>'s level holds:
    /// 0 nothing, 1 another RIP, 2 this RIP.</summary>
    internal int Classify(ulong rip, bool user)
    {
        ulong held = _entries[BankStart(user) + SlotOf(rip)].Rip;
        return held == Empty ? 0 : held != rip ? 1 : 2;
    }

    /// <summary>Forgets <paramref name="native"/> (in both banks) before its code is freed.</summary>
    public void Remove(NativeBlock native)
    {
        int slot = SlotOf(native.Owner.StartRip);
        ref JumpCacheEntry supervisor = ref _entries[slot];
        if (supervisor.ChainEntry == native.ChainEntry) supervisor.Rip = Empty;
        ref JumpCacheEntry user = ref _entries[Slots + slot];
        if (user.ChainEntry == native.ChainEntry) user.Rip = Empty;
    }
}
