namespace Vessel.Cpu;

internal sealed partial class X86Cpu
{
    private readonly ManualResetEventSlim _wake = new(false);

    /// <summary>Ends a wait in <see cref="WaitForWakeSignal"/>; safe from any thread.</summary>
    public void Wake() => _wake.Set();

    internal void WaitForWakeSignal()
    {
        if (!_kickRequested) _wake.Wait();
        _wake.Reset();
    }

    public void DisposeWaitHandles() => _wake.Dispose();
}
