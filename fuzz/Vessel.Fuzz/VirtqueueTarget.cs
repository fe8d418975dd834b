using Vessel.Virtio.Tests;

namespace Vessel.Fuzz;

/// <summary>The split virtqueue as every virtio device walks it: the bytes lay out descriptor tables, indirect
/// tables, rings and request headers for blk, rng or the console (<see cref="VirtqueueFuzzTarget"/>, whose source
/// lives with the virtio tests and is compiled in here). Refusal is the device's NeedsReset, which the target
/// checks itself; anything that escapes is a finding.</summary>
public static class VirtqueueTarget
{
    public static FuzzTarget Target { get; } = new("virtqueue", "split virtqueues handed to virtio-blk, -rng and -console",
        VirtqueueFuzzTarget.Run, () =>
        [
            [0, 0, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            [1, 0x30, 4, 2, 0, 0x10, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
            [2, 0x10, 5, 1, 0, 0x20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0],
            [3, 0x20, 2, 3, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ]);
}
