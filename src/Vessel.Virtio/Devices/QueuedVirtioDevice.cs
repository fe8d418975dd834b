using Vessel.Virtio.Queues;

namespace Vessel.Virtio.Devices;

/// <summary>
/// What every device here shares: building and validating its <see cref="SplitQueue"/>s on activation, a
/// <see cref="DeviceWorker"/> thread that serves kicked queues, and the one-shot <see cref="IVirtioInterrupt.NeedsReset"/>
/// after which the device serves nothing until the driver resets it. Subclasses implement
/// <see cref="ServeQueue"/>, which runs on the worker thread only.
/// </summary>
public abstract class QueuedVirtioDevice : IVirtioDevice
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(30);

    private readonly object _lifecycle = new();
    private readonly string _name;
    private volatile DeviceWorker? _worker;
    private SplitQueue?[] _queues = [];
    private DescriptorChain?[] _chains = [];
    private VirtioActivation? _activation;
    private volatile bool _broken;
    private bool _paused;
    private bool _disposed;

    protected QueuedVirtioDevice(string name) => _name = name;

    public abstract VirtioDeviceType DeviceType { get; }
    public abstract ulong OfferedFeatures { get; }
    public abstract int QueueCount { get; }
    public abstract ushort MaxQueueSize(int queueIndex);
    public abstract int ConfigSize { get; }
    public abstract void ReadConfig(int offset, Span<byte> data);
    public abstract void WriteConfig(int offset, ReadOnlySpan<byte> data);

    /// <summary>Copies <paramref name="data"/>.Length bytes of <paramref name="config"/> from
    /// <paramref name="offset"/>; a range that does not lie inside it reads as zeros.</summary>
    protected static void CopyConfig(ReadOnlySpan<byte> config, int offset, Span<byte> data)
    {
        if (offset >= 0 && offset <= config.Length && data.Length <= config.Length - offset)
            config.Slice(offset, data.Length).CopyTo(data);
        else
            data.Clear();
    }

    /// <summary>The device called NeedsReset and serves nothing until <see cref="Reset"/>.</summary>
    public bool NeedsReset => _broken;

    public bool IsActive => _worker != null;

    /// <summary>Features the driver accepted, or 0 before activation.</summary>
    public ulong NegotiatedFeatures => _activation?.NegotiatedFeatures ?? 0;

    protected SplitQueueState?[] QueueStates()
    {
        var queues = _queues;
        var states = new SplitQueueState?[queues.Length];
        for (int i = 0; i < queues.Length; i++)
            states[i] = queues[i]?.State;
        return states;
    }

    public void Activate(VirtioActivation activation)
    {
        lock (_lifecycle)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            StopServing();
            _activation = activation;
            var queues = new SplitQueue?[QueueCount];
            var chains = new DescriptorChain?[QueueCount];
            for (int i = 0; i < QueueCount; i++)
            {
                var config = i < activation.Queues.Count ? activation.Queues[i] : null;
                if (config == null)
                    continue;
                var queue = SplitQueue.TryCreate(activation.Memory, config, activation.NegotiatedFeatures, MaxQueueSize(i), out var error);
                if (queue == null)
                {
                    Fail($"queue {i}: {error}");
                    return;
                }
                queues[i] = queue;
                chains[i] = new DescriptorChain(queue.Size);
            }
            _queues = queues;
            _chains = chains;
            OnActivate(activation);
            var worker = new DeviceWorker($"virtio-{_name}", Serve);
            if (_paused) worker.Hold();
            worker.Signal(DeviceWorker.AllQueues);
            _worker = worker;
        }
    }

    public void QueueNotify(int queueIndex)
    {
        if ((uint)queueIndex < (uint)QueueCount && queueIndex < 31)
            _worker?.Signal(1 << queueIndex);
    }

    /// <summary>Asks the worker for a pass over every queue (new host input, tokens refilled).</summary>
    protected void Wake() => _worker?.Signal(DeviceWorker.AllQueues);

    /// <summary>Waits until the device has finished every kick it was given (pause; tests).</summary>
    public bool Drain() => _worker?.WaitIdle(DrainTimeout) ?? true;

    /// <summary>The machine pauses: every kick already given is served (<see cref="Drain"/>), then the device
    /// serves nothing and touches neither guest memory nor interrupts until <see cref="Resume"/>; kicks and host
    /// input meanwhile wait. False if the drain timed out (the device is held all the same).</summary>
    public bool Pause()
    {
        lock (_lifecycle)
        {
            bool drained = Drain();
            _paused = true;
            _worker?.Hold();
            return drained;
        }
    }

    /// <summary>Serves again what waited during <see cref="Pause"/>.</summary>
    public void Resume()
    {
        lock (_lifecycle)
        {
            _paused = false;
            _worker?.Release();
        }
    }

    public bool IsPaused
    {
        get { lock (_lifecycle) return _paused; }
    }

    public void Reset()
    {
        lock (_lifecycle)
        {
            StopServing();
            OnReset();
        }
    }

    private void StopServing()
    {
        var worker = _worker;
        _worker = null;
        worker?.Stop();
        _queues = [];
        _chains = [];
        _activation = null;
        _broken = false;
    }

    /// <summary>Reports a driver protocol violation once and stops serving.</summary>
    protected void Fail(string reason)
    {
        if (_broken)
            return;
        _broken = true;
        _activation?.Interrupt.NeedsReset(reason);
    }

    /// <summary>Tells an active driver that the configuration space changed (nothing before activation: the driver
    /// reads the configuration when it starts).</summary>
    protected void RaiseConfigInterrupt() => _activation?.Interrupt.ConfigInterrupt();

    /// <summary>Returns a chain to the driver and interrupts it if it asked to be.</summary>
    /// <summary>Interrupts the driver for <paramref name="queueIndex"/> (the caller asked the queue's
    /// <see cref="SplitQueue.ShouldInterrupt"/>).</summary>
    protected void RaiseQueueInterrupt(int queueIndex) => _activation?.Interrupt.QueueInterrupt(queueIndex);

    protected void Complete(SplitQueue queue, int queueIndex, ushort head, uint writtenBytes)
    {
        queue.AddUsed(head, writtenBytes);
        if (queue.ShouldInterrupt())
            _activation?.Interrupt.QueueInterrupt(queueIndex);
    }

    /// <summary>Takes the driver's next receive buffer into <paramref name="chain"/>: true when there is one. False
    /// when there is none (the notification is armed first, and a buffer posted meanwhile is taken after all) or the
    /// queue broke; a chain without device-writable bytes breaks it, named by <paramref name="bufferName"/>.</summary>
    protected static bool TryTakeReceiveBuffer(SplitQueue queue, DescriptorChain chain, string bufferName)
    {
        while (true)
        {
            var result = queue.TryPop(chain);
            if (result == PopResult.Broken)
                return false;
            if (result == PopResult.Empty)
            {
                if (queue.ArmNotification())
                    continue;
                return false;
            }
            if (chain.WritableBytes == 0)
            {
                queue.MarkBroken($"{bufferName} {chain.Head} has no device-writable bytes");
                return false;
            }
            return true;
        }
    }

    private int Serve(int mask)
    {
        int retry = -1;
        var queues = _queues;
        var chains = _chains;
        for (int i = 0; i < queues.Length; i++)
        {
            if (_broken)
                return -1;
            var queue = queues[i];
            if (queue == null || (mask & (1 << i)) == 0)
                continue;
            try
            {
                int r = ServeQueue(i, queue, chains[i]!);
                if (r >= 0)
                    retry = retry < 0 ? r : Math.Min(retry, r);
            }
            catch (Exception e)
            {
                // A device bug must not take the VMM down from a worker thread; the guest sees a broken device.
                Fail($"queue {i}: internal error: {e.GetType().Name}: {e.Message}");
                return -1;
            }
            if (queue.Violation != null)
            {
                Fail($"queue {i}: {queue.Violation}");
                return -1;
            }
        }
        return retry;
    }

    /// <summary>Serves queue <paramref name="queueIndex"/> until it is empty (or waits on something); returns -1, or
    /// milliseconds after which to be called again. Use <see cref="SplitQueue.ArmNotification"/> before returning
    /// from an empty queue. On the worker thread only.</summary>
    protected abstract int ServeQueue(int queueIndex, SplitQueue queue, DescriptorChain chain);

    protected virtual void OnActivate(VirtioActivation activation) { }

    protected virtual void OnReset() { }

    protected virtual void OnDispose() { }

    public void Dispose()
    {
        lock (_lifecycle)
        {
            if (_disposed)
                return;
            _disposed = true;
            StopServing();
            OnDispose();
        }
        GC.SuppressFinalize(this);
    }
}
