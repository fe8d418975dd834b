using System.Runtime.CompilerServices;
using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>Instructions decoded once from one guest-physical page, run straight through until a
/// control transfer. Valid while its page's generation and the decode context are unchanged.</summary>
internal sealed class DecodedBlock
{
    public const int MaxInstructions = 64;
    /// <summary>The decoded instructions and their fast forms, <see cref="Count"/> of them; a cached block's
    /// arrays are sized to its length (<see cref="CapacityFor"/>), the decode buffer's to the most a block holds.
    /// Empty while the block is compact (<see cref="Code"/>).</summary>
    public Instruction[] Instructions;
    public FastOp[] FastOps;
    public int Count;

    /// <summary>A compact block's guest bytes, kept instead of its instructions and fast forms (80 bytes an
    /// instruction against some 4): translated code runs without them, and whatever needs the instructions decodes
    /// them again from these bytes (see <see cref="BlockCompactor"/>). Null for a block with its arrays.</summary>
    public byte[]? Code;

    public bool IsCompact => Code != null;

    /// <summary>Times a compact block was decoded again from <see cref="Code"/> for the interpreter; past a few
    /// it takes its arrays back.</summary>
    public int Expansions;

    /// <summary>The last instruction's flow control, for the profiler, kept while the block is compact.</summary>
    private FlowControl _compactLastFlow;

    public FlowControl LastFlowControl => IsCompact ? _compactLastFlow : Instructions[Count - 1].FlowControl;

    /// <summary>Where the block's last instruction ends.</summary>
    public ulong EndRip => IsCompact ? StartRip + (ulong)Code!.Length : Instructions[Count - 1].NextIP;

    /// <summary>Drops the arrays, keeping <paramref name="code"/>, which decodes to the same instructions, the last
    /// one's flow control <paramref name="lastFlow"/>.</summary>
    public void MakeCompact(byte[] code, FlowControl lastFlow)
    {
        _compactLastFlow = lastFlow;
        Code = code;
        Expansions = 0;
        Instructions = [];
        FastOps = [];
    }

    /// <summary>Takes arrays back (of <see cref="CapacityFor"/> the block's length), filled from
    /// <paramref name="expanded"/>, this block decoded again.</summary>
    public void TakeArraysFrom(DecodedBlock expanded)
    {
        int capacity = CapacityFor(Count);
        Instructions = new Instruction[capacity];
        FastOps = new FastOp[capacity];
        Array.Copy(expanded.Instructions, Instructions, Count);
        Array.Copy(expanded.FastOps, FastOps, Count);
        Code = null;
    }

    /// <summary>What <see cref="Native"/> is charged in its VM's <see cref="CodeCacheBudget"/> (the block object
    /// is charged <see cref="FootprintBytes"/> of its array size once, when made).</summary>
    public long CompiledBytes;

    public DecodedBlock() : this(MaxInstructions) { }

    public DecodedBlock(int capacity)
    {
        Instructions = capacity == 0 ? [] : new Instruction[capacity];
        FastOps = capacity == 0 ? [] : new FastOp[capacity];
    }

    /// <summary>The array length a cached block of <paramref name="count"/> instructions gets: a multiple of
    /// <see cref="CapacityStep"/>, so a reused block object keeps its arrays across re-decodes that change the length
    /// a little. With powers of two (before 2026-12-07) the managed heap at the Debian boot's marker, 30 000 blocks
    /// in it, held 55.2 MB (dotnet-gcdump); with steps of 4, 50.1 MB.</summary>
    public static int CapacityFor(int count) => count <= CapacityStep ? CapacityStep : (count + CapacityStep - 1) & ~(CapacityStep - 1);

    /// <summary>Array lengths go up in steps of this many instructions (80 bytes each: the Iced instruction and its
    /// fast form).</summary>
    public const int CapacityStep = 4;

    /// <summary>Host bytes of a block with arrays of <paramref name="capacity"/>: the object and both arrays with
    /// their headers.</summary>
    public static long FootprintBytes(int capacity) =>
        ObjectBytes + 2 * ArrayHeaderBytes + (long)capacity * (Unsafe.SizeOf<Instruction>() + Unsafe.SizeOf<FastOp>());

    /// <summary>Host bytes of a compact block with <paramref name="codeLength"/> bytes of guest code.</summary>
    public static long CompactFootprintBytes(int codeLength) => ObjectBytes + ArrayHeaderBytes + codeLength;

    /// <summary>What the block is charged in its VM's budget now (its compiled code apart).</summary>
    public long FootprintBytesNow => IsCompact ? CompactFootprintBytes(Code!.Length) : FootprintBytes(Instructions.Length);

    private const int ObjectBytes = 160, ArrayHeaderBytes = 24;

    /// <summary>Becomes the block decoded into <paramref name="decoded"/> (the decode buffer); run counts and links
    /// start afresh (the caller has dropped the translation). Its arrays are at least that long.</summary>
    public void TakeDecode(DecodedBlock decoded)
    {
        int count = decoded.Count;
        Array.Copy(decoded.Instructions, Instructions, count);
        Array.Copy(decoded.FastOps, FastOps, count);
        Code = null;
        TakeHeaderOf(decoded);
    }

    /// <summary>Takes <paramref name="decoded"/>'s length, address, generations and decode context, with no run
    /// counts, links or translation.</summary>
    public void TakeHeaderOf(DecodedBlock decoded)
    {
        Count = decoded.Count;
        Expansions = 0;
        StartRip = decoded.StartRip;
        CsBase = decoded.CsBase;
        Bitness = decoded.Bitness;
        PhysicalAddress = decoded.PhysicalAddress;
        Generation = decoded.Generation;
        Cacheable = decoded.Cacheable;
        SecondPage = decoded.SecondPage;
        SecondGeneration = decoded.SecondGeneration;
        ExecutionCount = 0;
        Native = null;
        Link0 = Link1 = null;
        NextLinkSlot = false;
    }
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

    /// <summary>Runs in heat epoch <see cref="HeatEpoch"/> (see <see cref="BlockHeat"/>; reset when the block is
    /// decoded anew).</summary>
    public int ExecutionCount;
    public long HeatEpoch;
    /// <summary>The native tier's translation, once hot (see <see cref="Vessel.Cpu.Native.NativeTranslator"/>).</summary>
    public Native.NativeBlock? Native;
    public long LinkEpoch;
    public bool NextLinkSlot;

    /// <summary>A block dropped for good (a compact one, whose object is not reused) is given this generation, which
    /// no page has, so no link or lookup finds it valid again.</summary>
    public const long DeadGeneration = long.MinValue;
}
