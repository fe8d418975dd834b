using System.Runtime.InteropServices;
using Vessel.Devices.RateLimiting;
using Vessel.Virtio.Devices;
using Vessel.Virtio.Queues;

namespace Vessel.Virtio.Entropy;

/// <summary>virtio-rng's state: only its queue (the rate limit refills from time).</summary>
public sealed record VirtioRngState(ulong NegotiatedFeatures, bool NeedsReset, IReadOnlyList<SplitQueueState?> Queues);

/// <summary>
/// virtio-rng (virtio 1.x, 5.4): fills each device-writable buffer the driver offers, up to
/// <see cref="MaxBytesPerRequest"/> (the spec lets the device return fewer bytes than asked), with bytes from the
/// host's getrandom(2), under a rate limit: Firecracker's rate_limiter when one is given, else
/// <see cref="DefaultLimit"/>, so a guest asking for endless entropy costs the host a bounded amount of CPU. A
/// request the buckets cannot pay for stays in the ring until they can.
/// </summary>
public sealed class VirtioRng : QueuedVirtioDevice
{
    public const ushort QueueSize = 64;
    public const int MaxBytesPerRequest = 64 << 10;

    /// <summary>4 MiB/s with bursts of 512 KiB.</summary>
    public static readonly RateLimit DefaultLimit = new(new BucketLimit(512 << 10, 0, 125), null);

    public VirtioRng(RateLimit? limit = null, TimeProvider? time = null)
        : base("rng")
        => RateLimit = new QueueRateLimit(time ?? TimeProvider.System, Wake, limit ?? DefaultLimit);

    /// <summary>The bytes' rate limit (one op and the bytes given, per request).</summary>
    public QueueRateLimit RateLimit { get; }

    public override VirtioDeviceType DeviceType => VirtioDeviceType.Entropy;

    public override ulong OfferedFeatures =>
        VirtioFeatures.Version1 | VirtioFeatures.RingIndirectDescriptors | VirtioFeatures.RingEventIndex;

    public override int QueueCount => 1;
    public override ushort MaxQueueSize(int queueIndex) => QueueSize;
    public override int ConfigSize => 0;
    public override void ReadConfig(int offset, Span<byte> data) => data.Clear();
    public override void WriteConfig(int offset, ReadOnlySpan<byte> data) { }

    public VirtioRngState State => new(NegotiatedFeatures, NeedsReset, QueueStates());

    protected override int ServeQueue(int queueIndex, SplitQueue queue, DescriptorChain chain)
    {
        do
        {
            while (queue.TryPop(chain) == PopResult.Chain)
            {
                if (chain.WritableBytes == 0)
                {
                    queue.MarkBroken($"entropy request {chain.Head} has no device-writable buffer");
                    return -1;
                }
                ulong grant = Math.Min(chain.WritableBytes, MaxBytesPerRequest);
                if (!RateLimit.TryConsume(grant, 1, out int retryMs))
                {
                    queue.UndoPop();
                    return retryMs;
                }
                int filled = 0;
                var cursor = chain.Cursor(writable: true, 0, grant);
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
            if (queue.Violation != null)
                return -1;
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
