using System.Runtime.InteropServices;
using Vessel.Virtio.Devices;
using Vessel.Virtio.Queues;

namespace Vessel.Virtio.Entropy;

/// <summary>virtio-rng's state: only its queue (the token bucket refills from time).</summary>
public sealed record VirtioRngState(ulong NegotiatedFeatures, bool NeedsReset, IReadOnlyList<SplitQueueState?> Queues);

/// <summary>
/// virtio-rng (virtio 1.x, 5.4): fills each device-writable buffer the driver offers with bytes from the host's
/// getrandom(2), at most <see cref="TokenBucket.BytesPerSecond"/> on average. When the bucket is empty the request
/// waits (the worker sleeps until tokens accrue), so a guest asking for endless entropy costs the host a bounded
/// amount of CPU instead of a spinning thread. A buffer gets as many bytes as there are tokens (the spec lets
/// the device return fewer than asked).
/// </summary>
public sealed class VirtioRng : QueuedVirtioDevice
{
    public const ushort QueueSize = 64;
    public const long DefaultBytesPerSecond = 4 << 20, DefaultBurst = 256 << 10;

    private readonly TokenBucket _bucket;

    public VirtioRng(long bytesPerSecond = DefaultBytesPerSecond, long burst = DefaultBurst, TimeProvider? time = null)
        : base("rng")
        => _bucket = new TokenBucket(bytesPerSecond, burst, time);

    public override VirtioDeviceType DeviceType => VirtioDeviceType.Entropy;

    public override ulong OfferedFeatures =>
        VirtioFeatures.Version1 | VirtioFeatures.RingIndirectDescriptors | VirtioFeatures.RingEventIndex;

    public override int QueueCount => 1;
    public override ushort MaxQueueSize(int queueIndex) => QueueSize;
    public override int ConfigSize => 0;
    public override void ReadConfig(int offset, Span<byte> data) => data.Clear();
    public override void WriteConfig(int offset, ReadOnlySpan<byte> data) { }

    public VirtioRngState State => new(NegotiatedFeatures, NeedsReset, QueueStates());

    protected override unsafe int ServeQueue(int queueIndex, SplitQueue queue, DescriptorChain chain)
    {
        do
        {
            while (true)
            {
                // Look at the bucket before taking a chain: an unserved chain stays in the ring for later.
                if (_bucket.Take(1) == 0)
                    return _bucket.MillisecondsUntilAvailable();
                var result = queue.TryPop(chain);
                if (result != PopResult.Chain)
                {
                    _bucket.Refund(1);
                    if (result == PopResult.Broken)
                        return -1;
                    break;
                }
                if (chain.WritableBytes == 0)
                {
                    queue.MarkBroken($"entropy request {chain.Head} has no device-writable buffer");
                    return -1;
                }
                int grant = 1 + _bucket.Take((int)Math.Min(chain.WritableBytes - 1, int.MaxValue - 1));
                int filled = 0;
                var cursor = chain.Cursor(writable: true, 0, (ulong)grant);
                while (cursor.MoveNext())
                {
                    var piece = cursor.Current;
                    if (!FillRandom(piece))
                        throw new IOException($"getrandom failed (errno {Marshal.GetLastPInvokeError()})");
                    queue.Memory.MarkWritten(cursor.CurrentGuestAddress, (ulong)piece.Length);
                    filled += piece.Length;
                }
                Complete(queue, queueIndex, chain.Head, (uint)filled);
            }
        } while (queue.ArmNotification());
        return -1;
    }

    private static unsafe bool FillRandom(Span<byte> destination)
    {
        fixed (byte* p = destination)
        {
            int done = 0;
            while (done < destination.Length)
            {
                nint n = HostCalls.getrandom(p + done, (nuint)(destination.Length - done), 0);
                if (n < 0)
                {
                    if (Marshal.GetLastPInvokeError() == HostCalls.EINTR)
                        continue;
                    return false;
                }
                done += (int)n;
            }
            return true;
        }
    }
}
