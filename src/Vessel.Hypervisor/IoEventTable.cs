namespace Vessel.Hypervisor;

/// <summary>The doorbells of a VM, for a backend that sees every guest write itself (emu): a write that matches
/// signals its notifier instead of leaving Run. Lookups take a snapshot and no lock.</summary>
public sealed class IoEventTable
{
    private readonly Lock _writeLock = new();
    private volatile (IoEvent Event, EventNotifier Notifier)[] _entries = [];

    /// <summary>Adds a doorbell. As in KVM, two on the same space, address and size collide unless both have a
    /// value and the values differ.
    /// Dispose the result to remove it.</summary>
    public IDisposable Add(IoEvent ioEvent, EventNotifier notifier)
    {
        ioEvent.Validate();
        ArgumentNullException.ThrowIfNull(notifier);
        lock (_writeLock)
        {
            if (Array.Exists(_entries, e => Collide(e.Event, ioEvent)))
                throw new InvalidOperationException($"doorbell {ioEvent} is already registered");
            _entries = [.. _entries, (ioEvent, notifier)];
        }
        return new OnceDisposable(() =>
        {
            lock (_writeLock) _entries = [.. _entries.Where(e => e.Event != ioEvent)];
        });
    }

    private static bool Collide(IoEvent a, IoEvent b) =>
        a.Space == b.Space && a.Address == b.Address && a.Size == b.Size && (a.Value is null || b.Value is null || a.Value == b.Value);

    /// <summary>Signals the doorbell <paramref name="exit"/> rings, if any, and says whether one did.</summary>
    public bool TrySignal(in VcpuExit exit)
    {
        var entries = _entries;
        if (entries.Length == 0 || exit.Reason is not (VcpuExitReason.IoOut or VcpuExitReason.MmioWrite)) return false;
        foreach (var (ioEvent, notifier) in entries)
            if (ioEvent.Matches(exit))
            {
                notifier.Signal();
                return true;
            }
        return false;
    }
}
