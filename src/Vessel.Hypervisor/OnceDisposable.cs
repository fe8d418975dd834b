namespace Vessel.Hypervisor;

/// <summary>Runs an action on the first Dispose only: the handle of a registration.</summary>
internal sealed class OnceDisposable(Action action) : IDisposable
{
    private int _done;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _done, 1) == 0) action();
    }
}
