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
/// execute TLB and the page's code generation. A slot keeps what that check needs: it is filled only for a block
/// the run loop has just checked; translated code compares the page's generation (a write to the page leaves the
/// slot dead); the whole cache is cleared when the vCPU's translation epoch (CR3, INVLPG, TLB flushes, mode and CPL
/// changes) or the code map's epoch moves; and a block's slot is cleared when the block loses its translation
/// (eviction, re-decode, flush). Direct-mapped by <see cref="SlotOf"/>, which translated code computes the same way.
/// Only the owning vCPU's thread writes it, outside translated code.</para></summary>
internal sealed unsafe class NativeJumpCache
{
    public const int SlotBits = 12, Slots = 1 << SlotBits;

    /// <summary>Non-canonical: no target RIP ever equals it.</summary>
    public const ulong Empty = 0x8000_0000_0000_0000UL;

    private readonly JumpCacheEntry[] _entries = GC.AllocateArray<JumpCacheEntry>(Slots, pinned: true);

    /// <summary>Slots filled since the last clear, so a clear touches only those (CR3 writes clear it often).</summary>
    private readonly int[] _filled = new int[Slots];
    private int _filledCount;
    private long _codeEpoch = -1;

    /// <summary>The translation epoch the slots were filled under.</summary>
    public long TranslationEpoch { get; private set; } = -1;

    /// <summary>Blocks put in the cache.</summary>
    internal long Fills;

    public NativeJumpCache()
    {
        for (int i = 0; i < Slots; i++) _entries[i].Rip = Empty;
    }

    public JumpCacheEntry* Base => (JumpCacheEntry*)Unsafe.AsPointer(ref _entries[0]);

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

    /// <summary>Clears everything if the translation or code epoch is not the one the slots were filled under.</summary>
    public void Revalidate(long translationEpoch, long codeEpoch)
    {
        if (translationEpoch == TranslationEpoch && codeEpoch == _codeEpoch) return;
        TranslationEpoch = translationEpoch;
        _codeEpoch = codeEpoch;
        Clear();
    }

    public void Clear()
    {
        if (_filledCount >= Slots / 4)
        {
            for (int i = 0; i < Slots; i++) _entries[i].Rip = Empty;
        }
        else
        {
            for (int i = 0; i < _filledCount; i++) _entries[_filled[i]].Rip = Empty;
        }
        _filledCount = 0;
    }

    /// <summary>Puts <paramref name="native"/>, which the run loop has just found valid at the current RIP, in its slot,
    /// if its first page's generation, which the code map keeps at <paramref name="generation"/>, covers it (a block
    /// running into a second page is covered too: see <see cref="CodePageMap.MarkCodeRunningInto"/>).</summary>
    public void Put(NativeBlock native, long* generation)
    {
        DecodedBlock block = native.Owner;
        if (generation == null || !block.Cacheable) return;
        ref JumpCacheEntry e = ref _entries[SlotOf(block.StartRip)];
        if (e.Rip == block.StartRip && e.ChainEntry == native.ChainEntry && e.ExpectedGeneration == block.Generation) return;
        if (e.Rip == Empty && _filledCount < Slots) _filled[_filledCount++] = SlotOf(block.StartRip);
        e.Rip = block.StartRip;
        e.ChainEntry = native.ChainEntry;
        e.Generation = generation;
        e.ExpectedGeneration = block.Generation;
        Fills++;
    }

    /// <summary>Profiler: what <paramref name="rip"/>'s slot holds: 0 nothing, 1 another RIP, 2 this RIP.</summary>
    internal int Classify(ulong rip)
    {
        ulong held = _entries[SlotOf(rip)].Rip;
        return held == Empty ? 0 : held != rip ? 1 : 2;
    }

    /// <summary>Forgets <paramref name="native"/> before its code is freed.</summary>
    public void Remove(NativeBlock native)
    {
        ref JumpCacheEntry e = ref _entries[SlotOf(native.Owner.StartRip)];
        if (e.ChainEntry == native.ChainEntry) e.Rip = Empty;
    }
}
