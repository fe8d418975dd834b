using Iced.Intel;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>Makes 64-bit blocks keep their guest bytes instead of their decoded instructions and fast forms
/// (<see cref="DecodedBlock.Code"/>), and decodes them again for whoever needs the instructions. At the Debian boot's
/// marker those arrays, 80 bytes an instruction, were most of the GC heap: for translated blocks, whose code does not
/// read them, and for the many blocks that ran a few times and never again. A block is cached compact when decoded
/// (its first run is from the decode) and made compact again once translated. What needs the instructions: an
/// instruction handed back, a block interpreted (not hot yet, or single-step, an interrupt shadow, a replayed device
/// read), the translator, the check whether a fresh decode is the same instructions, and the profiler. They get the
/// block decoded again into a scratch block, which keeps the last one; a block decoded again
/// <see cref="ExpansionsBeforeArrays"/> times (one that keeps running interpreted, or keeps handing back) takes its
/// arrays back, until it is translated. One per vCPU; the bytes the blocks
/// are charged go to and from the VM's <see cref="CodeCacheBudget"/>.</summary>
internal sealed unsafe class BlockCompactor
{
    /// <summary>Whether blocks are made compact; <c>VESSEL_COMPACT_BLOCKS=0</c> keeps every block's arrays (for A/B
    /// runs of one build).</summary>
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("VESSEL_COMPACT_BLOCKS") != "0";

    public const int ExpansionsBeforeArrays = 4;

    private readonly CompactBlockDecoder _decoder = new();

    /// <summary>The scratch a compact block is decoded into, and the bytes (<see cref="DecodedBlock.Code"/>, by
    /// reference: a block made compact again gets new ones) it holds the decode of.</summary>
    private readonly DecodedBlock _expanded = new();
    private byte[]? _expandedCode;

    /// <summary>Blocks made compact, decodes of compact blocks, and compact blocks given their arrays back.</summary>
    public long MadeCompact, Decodes, GivenArrays;

    /// <summary>A cached block for <paramref name="decoded"/> (the decode buffer, 64-bit, in one page) that keeps only
    /// its bytes, charged to <paramref name="budget"/>; null if it cannot be one (or the budget is full). Its first run
    /// is from the scratch, which holds the decode.</summary>
    public DecodedBlock? TryNewCompact(DecodedBlock decoded, GuestMemory memory, CodeCacheBudget budget)
    {
        if (!Enabled || decoded.Bitness != 64 || decoded.SecondPage != DecodedBlock.NoSecondPage || decoded.Count == 0) return null;
        byte[]? code = BytesDecodingAs(decoded, memory);
        if (code == null || !budget.TryCharge(DecodedBlock.CompactFootprintBytes(code.Length))) return null;
        var block = new DecodedBlock(0);
        block.TakeHeaderOf(decoded);
        block.MakeCompact(code, decoded.Instructions[decoded.Count - 1].FlowControl);
        _expandedCode = code;
        MadeCompact++;
        return block;
    }

    /// <summary>Makes <paramref name="block"/>, just translated from its arrays, compact again.</summary>
    public void TryMakeCompact(DecodedBlock block, GuestMemory memory, CodeCacheBudget budget)
    {
        if (!Enabled || block.IsCompact || block.Bitness != 64 || block.SecondPage != DecodedBlock.NoSecondPage) return;
        byte[]? code = BytesDecodingAs(block, memory);
        if (code == null) return;
        long before = block.FootprintBytesNow;
        block.MakeCompact(code, block.Instructions[block.Count - 1].FlowControl);
        budget.Release(before - block.FootprintBytesNow);
        _expandedCode = code;
        MadeCompact++;
    }

    /// <summary>A copy of <paramref name="block"/>'s bytes in guest RAM if they decode to its instructions, which the
    /// scratch then holds; null if they do not (another vCPU wrote them since the decode: the block goes stale then).</summary>
    private byte[]? BytesDecodingAs(DecodedBlock block, GuestMemory memory)
    {
        long length = (long)(block.Instructions[block.Count - 1].NextIP - block.StartRip);
        if (length <= 0 || (long)(block.PhysicalAddress & 0xFFF) + length > 4096) return null;
        byte* bytes = memory.TryGetPointer(block.PhysicalAddress, (ulong)length);
        if (bytes == null) return null;
        byte[] code = new ReadOnlySpan<byte>(bytes, (int)length).ToArray();
        _expandedCode = null;
        if (!_decoder.Decode(code, block.StartRip, block.Count, _expanded)) return null;
        for (int i = 0; i < block.Count; i++)
            if (!Instruction.EqualsAllBits(_expanded.Instructions[i], block.Instructions[i])) return null;
        return code;
    }

    /// <summary>Gives a compact block its arrays back (to translate it); false if the budget has no room.</summary>
    public bool TryGiveArrays(DecodedBlock block, CodeCacheBudget budget)
    {
        if (!block.IsCompact) return true;
        DecodedBlock expanded = Expanded(block);
        long arrays = DecodedBlock.FootprintBytes(DecodedBlock.CapacityFor(block.Count)) - block.FootprintBytesNow;
        if (!budget.TryCharge(arrays)) return false;
        block.TakeArraysFrom(expanded);
        GivenArrays++;
        return true;
    }

    /// <summary>The block whose arrays the interpreter runs <paramref name="block"/>'s instructions from: itself, or
    /// for a compact block the scratch (or the block again, once it has taken its arrays back).</summary>
    public DecodedBlock BodyOf(DecodedBlock block, CodeCacheBudget budget)
    {
        if (!block.IsCompact) return block;
        if (_expandedCode == block.Code) return _expanded;
        DecodedBlock expanded = Expanded(block);
        if (++block.Expansions < ExpansionsBeforeArrays) return expanded;
        return TryGiveArrays(block, budget) ? block : expanded;
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
