namespace Vessel.Hypervisor;

/// <summary>A virtual machine whose guest clock the VMM can stop across a pause (KVM's kvmclock:
/// KVM_GET_CLOCK at pause, KVM_SET_CLOCK at resume), so the guest's time does not jump by the paused time.
/// Backends whose guest time follows the host's clock (emu) do not implement it.</summary>
public interface IGuestClockControl
{
    /// <summary>Called with every vCPU out of guest code.</summary>
    void SaveGuestClock();

    /// <summary>Called before the vCPUs run again; sets the clock to what <see cref="SaveGuestClock"/> read.</summary>
    void RestoreGuestClock();
}
