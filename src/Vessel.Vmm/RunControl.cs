using Vessel.Hypervisor;

namespace Vessel.Vmm;

/// <summary>The rendezvous between the controlling thread and the vCPU threads: pause and stop requests,
/// parked/halted/finished counts, and the exit of the VM (the first one recorded wins). One monitor guards
/// it all; vCPU threads touch it only between runs, never per exit.</summary>
internal sealed class RunControl(IReadOnlyList<IVcpu> vcpus)
{
    private readonly object _gate = new(); // a Monitor, for Wait/PulseAll
    private readonly int _vcpuCount = vcpus.Count;
    private volatile bool _pauseRequested;
    private volatile bool _stopRequested;
    private bool _kicksEnabled = true;
    private int _parked, _halted, _finished;
    private MachineExit? _exit;

    public bool PauseRequested => _pauseRequested;
    public bool StopRequested => _stopRequested;

    public MachineExit? Exit { get { lock (_gate) return _exit; } }

    /// <summary>Records <paramref name="exit"/> unless an exit is already recorded, and makes every vCPU leave
    /// Run. Safe from any thread, including a vCPU's own. Returns whether this call decided the exit.</summary>
    public bool RequestStop(MachineExit exit)
    {
        lock (_gate)
        {
            bool first = _exit is null;
            _exit ??= exit;
            _stopRequested = true;
            KickAllLocked();
            Monitor.PulseAll(_gate);
            return first;
        }
    }

    public void RequestPause()
    {
        lock (_gate)
        {
            _pauseRequested = true;
            KickAllLocked();
        }
    }

    /// <summary>Waits until every vCPU is parked, halted or finished. False if a stop came first.</summary>
    public bool WaitUntilQuiescent()
    {
        lock (_gate)
        {
            while (_parked + _halted + _finished < _vcpuCount && !_stopRequested)
                Monitor.Wait(_gate);
            return !_stopRequested;
        }
    }

    public void Resume()
    {
        lock (_gate)
        {
            _pauseRequested = false;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Called by a vCPU thread that saw a pause request: blocks until resumed or stopped.</summary>
    public void ParkWhilePaused()
    {
        lock (_gate)
        {
            _parked++;
            Monitor.PulseAll(_gate);
            while (_pauseRequested && !_stopRequested)
                Monitor.Wait(_gate);
            _parked--;
        }
    }

    /// <summary>Called by a vCPU thread whose vCPU halted with interrupts off: nothing wakes it, so it waits
    /// for the VM to stop. The last vCPU to halt ends the VM.</summary>
    public void ParkHalted()
    {
        lock (_gate)
        {
            _halted++;
            if (_halted == _vcpuCount)
                RequestStop(MachineExit.AllVcpusHalted);
            Monitor.PulseAll(_gate);
            while (!_stopRequested)
                Monitor.Wait(_gate);
        }
    }

    public void VcpuFinished()
    {
        lock (_gate)
        {
            _finished++;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Blocks until an exit is recorded, or <paramref name="timeout"/> passes.</summary>
    public MachineExit? WaitForExit(TimeSpan timeout)
    {
        bool infinite = timeout == Timeout.InfiniteTimeSpan;
        long deadline = infinite ? 0 : Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        lock (_gate)
        {
            while (_exit is null)
            {
                if (infinite)
                {
                    Monitor.Wait(_gate);
                    continue;
                }
                long left = deadline - Environment.TickCount64;
                if (left <= 0) break;
                Monitor.Wait(_gate, (int)Math.Min(left, int.MaxValue));
            }
            return _exit;
        }
    }

    /// <summary>After this, no call kicks a vCPU: they are about to be disposed.</summary>
    public void DisableKicks()
    {
        lock (_gate) _kicksEnabled = false;
    }

    private void KickAllLocked()
    {
        if (!_kicksEnabled) return;
        foreach (var vcpu in vcpus) vcpu.Kick();
    }
}
