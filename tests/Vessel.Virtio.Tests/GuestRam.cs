using Vessel.Hypervisor;

namespace Vessel.Virtio.Tests;

// Free of xunit: fuzz/Vessel.Fuzz compiles this file and VirtqueueFuzzTarget.cs into its virtqueue target.

/// <summary>Records what a device asked of its transport.</summary>
internal sealed class RecordingInterrupt : IVirtioInterrupt
{
    private readonly int[] _queueInterrupts = new int[8];
    private readonly List<string> _resets = [];

    public int QueueInterrupts(int queue) => Volatile.Read(ref _queueInterrupts[queue]);
    public int ConfigInterrupts;

    public IReadOnlyList<string> Resets { get { lock (_resets) return [.. _resets]; } }

    public void QueueInterrupt(int queueIndex) => Interlocked.Increment(ref _queueInterrupts[queueIndex]);
    public void ConfigInterrupt() => Interlocked.Increment(ref ConfigInterrupts);
    public void NeedsReset(string reason) { lock (_resets) _resets.Add(reason); }
}

/// <summary>
/// Guest RAM for the fake driver: <see cref="RamBytes"/> at guest-physical 0, and a second small region after a hole
/// (at <see cref="HighBase"/>), so "outside RAM" and "across regions" can both be asked for. A canary region that the
/// guest cannot address is filled with a pattern; <see cref="CanaryIntact"/> checks no device wrote it.
/// </summary>
internal sealed class GuestRam : IDisposable
{
    public const ulong RamBytes = 4 << 20;
    public const ulong HighBase = 0x100_0000, HighBytes = 64 << 10;
    private const byte CanaryByte = 0xA5;

    private readonly GuestMemoryRegion _low = new(RamBytes);
    private readonly GuestMemoryRegion _high = new(HighBytes);
    private readonly GuestMemoryRegion _canary = new(64 << 10);
    private ulong _next = 0x10_0000;

    public GuestRam()
    {
        Memory.Map(0, 0, _low);
        Memory.Map(1, HighBase, _high);
        _canary.AsSpan(0, (int)_canary.Size).Fill(CanaryByte);
    }

    public GuestMemory Memory { get; } = new();

    public bool CanaryIntact => !_canary.AsSpan(0, (int)_canary.Size).ContainsAnyExcept(CanaryByte);

    /// <summary>Bump-allocates a data buffer (from 1 MiB up; rings live below).</summary>
    public ulong Alloc(int bytes, int align = 16)
    {
        ulong at = (_next + (ulong)align - 1) & ~((ulong)align - 1);
        _next = at + (ulong)bytes;
        if (_next > RamBytes) throw new InvalidOperationException("fake guest RAM exhausted");
        return at;
    }

    public void ResetHeap() => _next = 0x10_0000;

    public byte[] Read(ulong address, int length)
    {
        var b = new byte[length];
        Memory.Read(address, b);
        return b;
    }

    public void Dispose()
    {
        _low.Dispose();
        _high.Dispose();
        _canary.Dispose();
    }
}
