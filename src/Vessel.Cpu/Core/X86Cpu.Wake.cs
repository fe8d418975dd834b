namespace Vessel.Cpu;

internal sealed partial class X86Cpu
{
    private readonly HaltWakeSignal _wake = new();

    /// <summary>Ends a wait in <see cref="WaitForWakeSignal"/>; safe from any thread.</summary>
    public void Wake() => _wake.Set();

    internal void WaitForWakeSignal() => WaitForWakeSignal(long.MaxValue);

    /// <summary>Waits for a wake-up or until the Stopwatch timestamp <paramref name="deadline"/> (at most a
    /// second at a time: the run loop re-plans after each wait).</summary>
    internal void WaitForWakeSignal(long deadline)
    {
        if (KickRequested) return;
        if (deadline == long.MaxValue)
        {
            _wake.Wait(-1);
            return;
        }
        long ticks = deadline - System.Diagnostics.Stopwatch.GetTimestamp();
        if (ticks <= 0) return;
        _wake.Wait(Math.Min(Platform.GuestClock.StopwatchToNanoseconds(ticks), 1_000_000_000));
    }
}
