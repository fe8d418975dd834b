namespace Vessel.Virtio.Tests;

/// <summary>An interrupt sink that reads the device worker's own allocation count at each interrupt it raises
/// (interrupts come from the worker thread): equal readings mean nothing between them allocated on it.</summary>
internal sealed class WorkerAllocationProbe(int queues) : IVirtioInterrupt
{
    private const int Capacity = 512;
    // Never grown: growing would allocate on the worker.
    private readonly List<long>[] _readings = Enumerable.Range(0, queues).Select(_ => new List<long>(Capacity)).ToArray();

    public long[] Readings(int queue) { lock (_readings) return [.. _readings[queue]]; }

    public void QueueInterrupt(int queueIndex)
    {
        long bytes = GC.GetAllocatedBytesForCurrentThread();
        lock (_readings)
        {
            if (_readings[queueIndex].Count < Capacity)
                _readings[queueIndex].Add(bytes);
        }
    }

    public void ConfigInterrupt() { }
    public void NeedsReset(string reason) => throw new InvalidOperationException(reason);
}
