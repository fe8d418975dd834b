namespace Vessel.Virtio.Devices;

/// <summary>
/// The one thread a device serves its queues on, so a queue kick (on a vCPU thread) only sets a bit and wakes
/// it: host I/O never runs on a vCPU. Kicks coalesce into a bit mask per queue, so a guest hammering the doorbell
/// costs one wake-up per pass, not one per kick. <c>serve</c> gets the mask of kicked queues and returns -1, or a
/// delay in milliseconds after which it wants to be called again for every queue (a rate limit waiting for tokens).
/// </summary>
internal sealed class DeviceWorker
{
    public const int AllQueues = -1;

    private readonly object _gate = new();
    private readonly Func<int, int> _serve;
    private readonly Thread _thread;
    private int _pending;
    private bool _busy;
    private bool _held;
    private bool _stopping;

    public DeviceWorker(string name, Func<int, int> serve)
    {
        _serve = serve;
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    public bool IsWorkerThread => Thread.CurrentThread == _thread;

    /// <summary>Queues <paramref name="queueMask"/> for a pass; never blocks beyond a short lock.</summary>
    public void Signal(int queueMask)
    {
        lock (_gate)
        {
            _pending |= queueMask;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>No pass starts until <see cref="Release"/> (the machine is paused): kicks and wake-ups stay
    /// pending. Waits for a pass in progress to end.</summary>
    public void Hold()
    {
        lock (_gate)
        {
            _held = true;
            while (_busy && !_stopping) Monitor.Wait(_gate);
        }
    }

    /// <summary>Ends a <see cref="Hold"/>: what was signalled meanwhile is served, and every queue is looked at once.</summary>
    public void Release()
    {
        lock (_gate)
        {
            _held = false;
            _pending = AllQueues;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Waits until no kick is pending and no pass is running (pause drains devices through this); while
    /// held, only until the pass in progress ends.</summary>
    public bool WaitIdle(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_gate)
        {
            while (((_pending != 0 && !_held) || _busy) && !_stopping)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                    return false;
                Monitor.Wait(_gate, left);
            }
            return true;
        }
    }

    /// <summary>Stops the thread after the pass in progress; waits for it unless called on the worker itself.</summary>
    public void Stop()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.PulseAll(_gate);
        }
        if (!IsWorkerThread)
            _thread.Join();
    }

    private void Run()
    {
        int retryAfter = -1;
        while (true)
        {
            int mask;
            lock (_gate)
            {
                while ((_pending == 0 || _held) && !_stopping)
                {
                    if (retryAfter >= 0 && !_held)
                    {
                        Monitor.Wait(_gate, retryAfter);
                        _pending = AllQueues;
                        retryAfter = -1;
                    }
                    else
                    {
                        // A retry due while held becomes a pass over every queue at Release.
                        if (retryAfter >= 0) _pending = AllQueues;
                        retryAfter = -1;
                        Monitor.Wait(_gate);
                    }
                }
                if (_stopping)
                {
                    Monitor.PulseAll(_gate);
                    return;
                }
                mask = _pending;
                _pending = 0;
                _busy = true;
            }
            retryAfter = _serve(mask);
            lock (_gate)
            {
                _busy = false;
                Monitor.PulseAll(_gate);
            }
        }
    }
}
