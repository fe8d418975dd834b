namespace Vessel.Cpu;

internal sealed partial class X86Cpu
{
    private readonly ManualResetEventSlim _wake = new(false);

    /// <summary>Ends a wait in <see cref="WaitForWakeSignal"/>; safe from any thread.</summary>
    public void Wake() => _wake.Set();

    internal void WaitForWakeSignal() => WaitForWakeSignal(long.MaxValue);

    /// <summary>Waits for a wake-up or until the Stopwatch timestamp <paramref name="deadline"/>.</summary>
    internal void WaitForWakeSignal(long deadline)
    {
        if (!_kickRequested)
        {
            if (deadline == long.MaxValue)
            {
                _wake.Wait();
            }
            else
            {
                long ticks = deadline - System.Diagnostics.Stopwatch.GetTimestamp();
                if (ticks > 0)
                {
                    var timeout = TimeSpan.FromSeconds((double)ticks / System.Diagnostics.Stopwatch.Frequency);
                    _wake.Wait(timeout > TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : timeout);
                }
            }
        }
        _wake.Reset();
    }

    public void DisposeWaitHandles() => _wake.Dispose();
}
