using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>INIT and start-up IPIs: an application processor waits for SIPI after INIT, then starts in
/// real mode at vector × 4 KiB (KVM's KVM_MP_STATE_INIT_RECEIVED → RUNNABLE).</summary>
internal sealed partial class X86Cpu
{
    /// <summary>True while the vCPU waits for a start-up IPI; Run() blocks (or returns Interrupted on a kick).</summary>
    public volatile bool WaitingForSipi;
    private volatile int _pendingSipiVector = -1;
    private volatile bool _pendingInit;

    /// <summary>An INIT or a wait for SIPI for <see cref="ProcessStartupSignals"/>.</summary>
    internal bool StartupSignalsPending => WaitingForSipi || _pendingInit;

    /// <summary>The controller that feeds this vCPU interrupts; null until the platform attaches one.</summary>
    internal IInterruptController? InterruptController { get; set; }

    /// <summary>Requests INIT (from another thread); applied by this vCPU's own thread.</summary>
    public void SignalInit()
    {
        _pendingSipiVector = -1; // a SIPI counts only after this INIT
        _pendingInit = true;
        Wake();
    }

    /// <summary>Requests a start-up at <paramref name="vector"/> (ignored unless waiting for SIPI).</summary>
    public void SignalSipi(int vector)
    {
        _pendingSipiVector = vector & 0xFF;
        Wake();
    }

    /// <summary>Applies pending INIT/SIPI; returns true while the vCPU must keep waiting.</summary>
    internal bool ProcessStartupSignals()
    {
        if (_pendingInit)
        {
            _pendingInit = false;
            ulong apicBase = ApicBase;
            Reset();
            ApicBase = apicBase;
            LocalApic?.Reset();
            WaitingForSipi = true;
        }
        if (!WaitingForSipi) return false;
        int vector = _pendingSipiVector;
        if (vector < 0) return true;
        _pendingSipiVector = -1;
        WaitingForSipi = false;
        var s = SpecialRegisters.RealMode((ushort)(vector << 8));
        s.ApicBase = ApicBase;
        SetSpecialRegisters(s);
        Rip = 0;
        return false;
    }
}
