using System.Runtime.InteropServices;

namespace Vessel.Hypervisor;

/// <summary>One thread that waits on many <see cref="EventNotifier"/>s and runs each one's handler when it is
/// signalled (once per wake-up, however many signals coalesced). The emu backend raises interrupt lines with it;
/// a VMM can run doorbell handlers with it. After <see cref="Add"/>'s result is disposed, or the pump is, the
/// handler is not called again (unless the removal is made by a handler on the pump thread itself).</summary>
public sealed unsafe class EventNotifierPump : IDisposable
{
    private readonly object _gate = new(); // a Monitor, for Wait/PulseAll
    private readonly EventNotifier _wake = new();
    private readonly Action<Exception> _onError;
    private readonly Thread _thread;
    private Entry[] _entries = [];
    private long _generation, _seenGeneration;
    private bool _stopping;

    /// <param name="name">the thread's name</param>
    /// <param name="onError">gets an exception a handler threw; the pump goes on</param>
    public EventNotifierPump(string name, Action<Exception> onError)
    {
        _onError = onError;
        _thread = new Thread(Loop) { Name = name, IsBackground = true };
        _thread.Start();
    }

    public IDisposable Add(EventNotifier notifier, Action handler)
    {
        ArgumentNullException.ThrowIfNull(notifier);
        ArgumentNullException.ThrowIfNull(handler);
        var entry = new Entry(notifier, handler);
        Update(entries => [.. entries, entry], adding: true);
        return new OnceDisposable(() => Update(entries => [.. entries.Where(e => !ReferenceEquals(e, entry))], adding: false));
    }

    /// <summary>Replaces the set and, unless on the pump thread, waits until the pump has picked it up.</summary>
    private void Update(Func<Entry[], Entry[]> change, bool adding)
    {
        lock (_gate)
        {
            if (_stopping)
            {
                ObjectDisposedException.ThrowIf(adding, this);
                return; // a removal after the pump stopped: nothing will call the handler any more
            }
            _entries = change(_entries);
            long generation = ++_generation;
            _wake.Signal();
            if (Thread.CurrentThread == _thread) return;
            while (_seenGeneration < generation && !_stopping) Monitor.Wait(_gate);
        }
    }

    private void Loop()
    {
        var fds = new List<EventFdNative.PollFd>();
        Entry[] entries = [];
        while (true)
        {
            lock (_gate)
            {
                if (_stopping) return;
                entries = _entries;
                _seenGeneration = _generation;
                Monitor.PulseAll(_gate);
            }
            fds.Clear();
            fds.Add(new EventFdNative.PollFd { Fd = _wake.Fd, Events = EventFdNative.PollIn });
            foreach (var e in entries) fds.Add(new EventFdNative.PollFd { Fd = e.Notifier.Fd, Events = EventFdNative.PollIn });
            var span = CollectionsMarshal.AsSpan(fds);
            int ready;
            fixed (EventFdNative.PollFd* p = span) ready = EventFdNative.Poll(p, (nuint)span.Length, -1);
            if (ready < 0) continue; // EINTR
            if (span[0].Revents != 0)
            {
                _wake.TryTake();
                continue; // the set changed or the pump stops: re-read it before running any handler
            }
            for (int i = 1; i < span.Length; i++)
            {
                if (span[i].Revents == 0 || entries[i - 1].Notifier.TryTake() == 0) continue;
                try
                {
                    entries[i - 1].Handler();
                }
                catch (Exception ex)
                {
                    _onError(ex);
                }
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_stopping) return;
            _stopping = true;
            _wake.Signal();
            Monitor.PulseAll(_gate);
        }
        if (Thread.CurrentThread != _thread) _thread.Join();
        _wake.Dispose();
    }

    private sealed record Entry(EventNotifier Notifier, Action Handler);
}
