namespace Vessel.Cpu.Native;

/// <summary>A block's translation placed in the VM's <see cref="ExecutableArena"/>: where it is, and the offset of
/// the entry for each instruction (-1 where the code is never re-entered).</summary>
internal sealed class NativeBlock(CodeChunk chunk, nint code, int[] entryOffsets)
{
    public CodeChunk Chunk { get; } = chunk;
    public nint Code { get; } = code;
    public int[] EntryOffsets { get; } = entryOffsets;
}
