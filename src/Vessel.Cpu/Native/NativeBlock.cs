namespace Vessel.Cpu.Native;

/// <summary>A block's translation placed in the VM's <see cref="ExecutableArena"/>: where it is, the offset of
/// the entry for each instruction (-1 where the code is never re-entered), and its chain slots and chain entry
/// (see <see cref="NativeChaining"/>).</summary>
internal sealed class NativeBlock(DecodedBlock owner, CodeChunk chunk, nint code, NativeTranslation translation)
{
    /// <summary>The decoded block this translates; it still does while <c>Owner.Native</c> is this.</summary>
    public DecodedBlock Owner { get; } = owner;
    public CodeChunk Chunk { get; } = chunk;
    public nint Code { get; } = code;
    public int[] EntryOffsets { get; } = translation.EntryOffsets;

    /// <summary>This block's name in <see cref="NativeContext.RunningBlock"/> (see <see cref="NativeBlockTable"/>).</summary>
    public int RunningId { get; init; }

    /// <summary>Where other blocks' chain slots jump to.</summary>
    public nint ChainEntry { get; } = code + translation.ChainEntryOffset;

    public int[] ChainSlotOffsets { get; } = translation.ChainSlotOffsets;
    public ulong[] ChainTargets { get; } = translation.ChainTargets;

    /// <summary>The block each chain slot jumps to now (null: the slot falls through to its exit).</summary>
    public NativeBlock?[] Outgoing { get; } = new NativeBlock?[translation.ChainSlotOffsets.Length];

    /// <summary>The slots of other blocks that jump to this one, to unpatch when this one goes.</summary>
    public List<(NativeBlock From, int Slot)> Incoming { get; } = [];
}
