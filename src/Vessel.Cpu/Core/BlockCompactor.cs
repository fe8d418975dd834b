using Iced.Intel;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>Makes translated blocks keep their guest bytes instead of their decoded instructions and fast forms
/// (<see cref="DecodedBlock.Code"/>), and decodes them again for whoever needs the instructions. At the Debian boot's
/// marker those arrays, 80 bytes an instruction, were most of the GC heap, and translated code does not read them.
/// What does: an instruction handed back, a block interpreted whole (single-step, an interrupt shadow, a replayed
/// device read), the check whether a fresh decode is the same instructions, and the profiler. They get the block
/// decoded again into a scratch block, which keeps the last one; a block decoded again
/// <see cref="ExpansionsBeforeArrays"/> times takes its arrays back for good. One per vCPU; the bytes the blocks
/// are charged go to and from the VM's <see cref="CodeCacheBudget"/>.</summary>
internal sealed unsafe class BlockCompactor
{
    /// <summary>Whether translated blocks are made compact; <c>VESSEL_COMPACT_BLOCKS=0</c> keeps every block's
    /// arrays (for A/B runs of one build).</summary>
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("VESSEL_COMPACT_BLOCKS") != "0";

    public const int ExpansionsBeforeArrays = 4;

    private readonly CompactBlockDecoder _decoder = new();

    /// <summary>The scratch a compact block is decoded into, and the bytes (<see cref="DecodedBlock.Code"/>, by
    /// reference: a block made compact again gets new ones) it holds the decode of.</summary>
    private readonly DecodedBlock _expanded = new();
    private byte[]? _expandedCode;

    /// <summary>Blocks made compact, decodes of compact blocks, and compact blocks given their arrays back.</summary>
    public long MadeCompact, Decodes, GivenArrays;

    /// <summary>Makes <paramref name="block"/>, just translated, compact if its bytes in guest RAM still decode to its
    /// instructions (another vCPU may have written them since the decode; the block is stale then anyway).</summary>
    public void TryMakeCompact(DecodedBlock block, GuestMemory memory, CodeCacheBudget budget)
    {
        if (!Enabled || block.IsCompact || block.Bitness != 64 || block.SecondPage != DecodedBlock.NoSecondPage) return;
        long length = (long)(block.Instructions[block.Count - 1].NextIP - block.StartRip);
        if (length <= 0 || (long)(block.PhysicalAddress & 0xFFF) + length > 4096) return;
        byte* bytes = memory.TryGetPointer(block.PhysicalAddress, (ulong)length);
        if (bytes == null) return;
        byte[] code = new ReadOnlySpan<byte>(bytes, (int)length).ToArray();
        _expandedCode = null;
        if (!_decoder.Decode(code, block.StartRip, block.Count, _expanded)) return;
        for (int i = 0; i < block.Count; i++)
            if (!Instruction.EqualsAllBits(_expanded.Instructions[i], block.Instructions[i])) return;
        long before = block.FootprintBytesNow;
        block.MakeCompact(code);
        budget.Release(before - block.FootprintBytesNow);
        _expandedCode = code; // the scratch holds its decode already
        MadeCompact++;
    }

    /// <summary>The block whose arrays the interpreter runs <paramref name="block"/>'s instructions from: itself, or
    /// for a compact block the scratch (or the block again, once it has taken its arrays back).</summary>
    public DecodedBlock BodyOf(DecodedBlock block, CodeCacheBudget budget)
    {
        if (!block.IsCompact) return block;
        if (_expandedCode == block.Code) return _expanded;
        DecodedBlock expanded = Expanded(block);
        if (++block.Expansions < ExpansionsBeforeArrays) return expanded;
        long arrays = DecodedBlock.FootprintBytes(DecodedBlock.CapacityFor(block.Count)) - block.FootprintBytesNow;
        if (!budget.TryCharge(arrays)) return expanded;
        block.TakeArraysFrom(expanded);
        GivenArrays++;
        return block;
    }

    /// <summary><paramref name="compact"/> decoded into the scratch block.</summary>
    public DecodedBlock Expanded(DecodedBlock compact)
    {
        if (_expandedCode == compact.Code) return _expanded;
        _decoder.Expand(compact, _expanded);
        _expandedCode = compact.Code;
        Decodes++;
        return _expanded;
    }

    /// <summary>Leaves a compact block, its translation dropped, to the garbage collector (its object is not reused:
    /// it has no arrays). Links may still lead to it, so it is made invalid for good first.</summary>
    public void Drop(DecodedBlock block, CodeCacheBudget budget)
    {
        budget.Release(block.FootprintBytesNow);
        block.Generation = DecodedBlock.DeadGeneration;
        block.Link0 = block.Link1 = null;
        if (_expandedCode == block.Code) _expandedCode = null;
    }
}
