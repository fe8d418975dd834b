using System.Runtime.InteropServices;
using Vessel.Hypervisor;

namespace Vessel.Kvm;

/// <summary>kvmclock across a pause, as Firecracker keeps it: KVM_GET_CLOCK when the vCPUs are parked and
/// KVM_SET_CLOCK with that value before they run again, so the guest's kvmclock (and the time Linux keeps with it)
/// does not jump by the paused time. A kernel that refuses either leaves the clock running through the pause. Each
/// vCPU's kvmclock is also marked stopped (KvmVcpu.ClockStopped.cs) so the guest's watchdogs forgive the gap.</summary>
public sealed unsafe partial class KvmVirtualMachine : IGuestClockControl
{
    // struct kvm_clock_data (48 bytes) and its ioctls, checked against <linux/kvm.h>: 0x8030ae7c, 0x4030ae7b.
    [StructLayout(LayoutKind.Sequential, Size = 48)]
    internal struct KvmClockData
    {
        public ulong Clock;
        public uint Flags;
    }

    internal const nuint KvmGetClock = 0x8030_AE7C, KvmSetClock = 0x4030_AE7B;

    private ulong? _savedClock;

    public void SaveGuestClock()
    {
        _savedClock = ReadGuestClock();
        MarkVcpusStopped();
    }

    /// <summary>KVM_KVMCLOCK_CTRL on every vCPU (<see cref="KvmVcpu.MarkGuestStopped"/>); how many took it.</summary>
    internal int MarkVcpusStopped()
    {
        int marked = 0;
        lock (_vcpus)
            foreach (var vcpu in _vcpus)
                if (vcpu.MarkGuestStopped()) marked++;
        return marked;
    }

    /// <summary>kvmclock's value in nanoseconds, or null if the kernel refuses KVM_GET_CLOCK.</summary>
    internal ulong? ReadGuestClock()
    {
        KvmClockData data = default;
        return KvmNative.Ioctl(Fd, KvmGetClock, &data) == 0 ? data.Clock : null;
    }

    public void RestoreGuestClock()
    {
        if (_savedClock is not { } clock) return;
        _savedClock = null;
        // Flags 0: set the clock to this value (not KVM_CLOCK_REALTIME, which would add the time spent paused).
        var data = new KvmClockData { Clock = clock };
        KvmNative.Ioctl(Fd, KvmSetClock, &data);
    }
}
