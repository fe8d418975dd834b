namespace Vessel.Cpu.Native;

/// <summary>A vCPU's live translations by running id, the number a block's chain entry writes into
/// <see cref="NativeContext.RunningBlock"/>: the run loop names the block chained code handed an instruction back
/// from with an array index instead of a dictionary lookup (it does so for a good part of the boot's hand-backs).
/// Ids of dropped blocks are reused.</summary>
internal sealed class NativeBlockTable
{
    private NativeBlock?[] _blocks = new NativeBlock?[256];
    private readonly Stack<int> _free = new();
    private int _next = 1; // 0: no block

    /// <summary>An id for a block about to be translated; <see cref="Set"/> or <see cref="Release"/> it next.</summary>
    public int Reserve()
    {
        if (_free.TryPop(out int id)) return id;
        id = _next++;
        if (id >= _blocks.Length) Array.Resize(ref _blocks, _blocks.Length * 2);
        return id;
    }

    public void Set(int id, NativeBlock block) => _blocks[id] = block;

    public void Release(int id)
    {
        _blocks[id] = null;
        _free.Push(id);
    }

    public NativeBlock this[long id] => _blocks[id] ?? throw new InvalidOperationException($"no translated block {id}");
}
