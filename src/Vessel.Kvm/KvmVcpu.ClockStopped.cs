namespace Vessel.Kvm;

/// <summary>KVM_KVMCLOCK_CTRL at pause: KVM sets PVCLOCK_GUEST_STOPPED in this vCPU's kvmclock page, so the guest's
/// soft-lockup and RCU-stall watchdogs take the gap for a host stop, not a hung CPU (as QEMU does on stop). Called
/// while the vCPU is parked outside KVM_RUN, as the ioctl requires.</summary>
public sealed partial class KvmVcpu
{
    /// <summary>_IO(KVMIO, 0xad), checked against &lt;linux/kvm.h&gt; by KvmClockTests.</summary>
    internal const nuint KvmKvmclockCtrl = 0xAEAD;

    /// <summary>False when the guest has not enabled kvmclock on this vCPU (KVM answers EINVAL) or the vCPU is gone: nothing to tell.</summary>
    internal bool MarkGuestStopped() => _fd >= 0 && KvmNative.Ioctl(_fd, KvmKvmclockCtrl, 0) == 0;
}
