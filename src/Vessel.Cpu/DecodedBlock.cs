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
    public long Generation;
    /// <summary>False for a block that must not be cached or linked: one decoded from outside RAM (see
    /// <see cref="UnbackedMemory"/>).</summary>
    public bool Cacheable;

    /// <summary>For a block whose one instruction runs into the next page: that page's guest-physical address
    /// and generation, checked with the first page's before the block runs again; <see cref="NoSecondPage"/>
    /// otherwise. Without this, an instruction straddling a page in a hot loop was decoded afresh, into a new
    /// block object, every time it ran.</summary>
    public ulong SecondPage = NoSecondPage;
    public long SecondGeneration;
    public const ulong NoSecondPage = ulong.MaxValue;

    /// <summary>Blocks that followed this one (a taken and a fall-through successor, say), valid while the
    /// vCPU's translation epoch equals <see cref="LinkEpoch"/>: found without the cache lookup.</summary>
    public DecodedBlock? Link0, Link1;

    /// <summary>Runs in heat epoch <see cref="HeatEpoch"/> (see <see cref="BlockHeat"/>), and the compiled form
    /// once hot (both reset when the block is decoded anew).</summary>
    public int ExecutionCount;
    public long HeatEpoch;
    public CompiledBlock? Compiled;
    public long LinkEpoch;
    public bool NextLinkSlot;
}
