using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>Instructions decoded once from one guest-physical page, run straight through until a
/// control transfer. Valid while its page's generation and the decode context are unchanged.</summary>
internal sealed class DecodedBlock
{
    public const int MaxInstructions = 64;
    public readonly Instruction[] Instructions = new Instruction[MaxInstructions];
    public readonly FastOp[] FastOps = new FastOp[MaxInstructions];
    public int Count;
    public ulong StartRip;
    public ulong CsBase;
    public int Bitness;
    public ulong PhysicalAddress;
    public int Generation;
    /// <summary>False when an instruction crosses into another page: such blocks are not cached.</summary>
    public bool Cacheable;

    /// <summary>Blocks that followed this one (a taken and a fall-through successor, say), valid while the
    /// vCPU's translation epoch equals <see cref="LinkEpoch"/>: found without the cache lookup.</summary>
    public DecodedBlock? Link0, Link1;

    /// <summary>Runs so far, and the compiled form once hot (both reset when the block is decoded anew).</summary>
    public int ExecutionCount;
    public CompiledBlock? Compiled;
    public int LinkEpoch;
    public bool NextLinkSlot;
}
