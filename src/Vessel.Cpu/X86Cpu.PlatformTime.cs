using System.Diagnostics;
using System.Runtime.CompilerServices;
using Vessel.Cpu.Platform;

namespace Vessel.Cpu;

/// <summary>The vCPU's side of the platform: its local APIC, timer polling from the run loop (a cached
/// deadline compared with the Stopwatch once per run-loop pass), and the timed sleep of a halted vCPU.</summary>
internal sealed partial class X86Cpu : ILocalApicHost
{
    /// <summary>This vCPU's local APIC, attached by the platform when the vCPU is created.</summary>
    internal LocalApic? Lapic { get; set; }

    /// <summary>Host timestamp at which the platform must be polled next (0: now).</summary>
    private long _nextTimerPoll;

    int ILocalApicHost.VcpuId => VcpuId;
    ulong ILocalApicHost.ApicBase => ApicBase;
    ulong ILocalApicHost.ReadTsc() => ReadTsc();
    void ILocalApicHost.SignalInit() => SignalInit();
    void ILocalApicHost.SignalSipi(int vector) => SignalSipi(vector);
    void ILocalApicHost.Wake() => Wake();
    void ILocalApicHost.RequestTimerPoll() => Volatile.Write(ref _nextTimerPoll, 0);

    /// <summary>Runs due timers (LAPIC timer, PIT) so they fire on time during long runs of instructions.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PollTimersIfDue()
    {
        long now = Stopwatch.GetTimestamp();
        if (now >= Volatile.Read(ref _nextTimerPoll)) PollTimers(now);
    }

    private void PollTimers(long now) => Volatile.Write(ref _nextTimerPoll, _vm.Platform.Poll(this, now));

    /// <summary>Sleeps until woken, kicked, or host timestamp <paramref name="untilTimestamp"/>.</summary>
    internal void WaitForWakeSignal(long untilTimestamp)
    {
        if (untilTimestamp == long.MaxValue)
        {
            WaitForWakeSignal();
            return;
        }
        long remaining = untilTimestamp - Stopwatch.GetTimestamp();
        if (remaining > 0 && !_kickRequested)
        {
            // Round up to whole milliseconds: waking early would only find the timer not yet due.
            long ms = (remaining * 1000 + Stopwatch.Frequency - 1) / Stopwatch.Frequency;
            _wake.Wait((int)Math.Min(ms, int.MaxValue));
        }
        _wake.Reset();
        Volatile.Write(ref _nextTimerPoll, 0);
    }
}
