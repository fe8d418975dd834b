using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Vessel.Cli.Tests;
using Vessel.Hypervisor;

namespace Vessel.Kvm.Tests;

/// <summary>kvmclock across a pause (KvmVirtualMachine.Clock.cs): the ioctls and struct against &lt;linux/kvm.h&gt;,
/// and on /dev/kvm the clock standing still between SaveGuestClock and RestoreGuestClock.</summary>
public sealed class KvmClockTests
{
    [Fact]
    public void ClockIoctlsAndStructMatchTheKernelHeader()
    {
        var values = CProbe.Evaluate(
        [
            ("get", "KVM_GET_CLOCK"), ("set", "KVM_SET_CLOCK"), ("size", "sizeof(struct kvm_clock_data)"),
            ("ctrl", "KVM_KVMCLOCK_CTRL"), ("clock", "offsetof(struct kvm_clock_data, clock)"), ("flags", "offsetof(struct kvm_clock_data, flags)"),
        ], "linux/kvm.h");
        Assert.Equal((ulong)KvmVirtualMachine.KvmGetClock, values["get"]);
        Assert.Equal((ulong)KvmVirtualMachine.KvmSetClock, values["set"]);
        Assert.Equal((ulong)KvmVcpu.KvmKvmclockCtrl, values["ctrl"]);
        Assert.Equal((ulong)Unsafe.SizeOf<KvmVirtualMachine.KvmClockData>(), values["size"]);
        Assert.Equal((ulong)Marshal.OffsetOf<KvmVirtualMachine.KvmClockData>("Clock"), values["clock"]);
        Assert.Equal((ulong)Marshal.OffsetOf<KvmVirtualMachine.KvmClockData>("Flags"), values["flags"]);
    }

    [KvmFact]
    public void TheGuestClockDoesNotAdvanceByThePausedTime()
    {
        using var kvm = KvmHypervisor.Open();
        using var vm = (KvmVirtualMachine)kvm.CreateVirtualMachine();
        var running = new System.Diagnostics.Stopwatch();
        running.Start();
        ulong? before = vm.ReadGuestClock();
        Assert.NotNull(before);
        vm.SaveGuestClock();
        running.Stop();
        Thread.Sleep(500);
        running.Start();
        vm.RestoreGuestClock();
        ulong after = vm.ReadGuestClock()!.Value;
        running.Stop();
        // Without the restore the clock would have run on by the 500 ms paused as well; with it, only by the time
        // outside the pause (the ioctls' own: microseconds, unless a loaded machine preempts the test between them).
        double outsideNs = running.Elapsed.TotalNanoseconds;
        Assert.True(after - before.Value < outsideNs + 100_000_000,
            $"kvmclock advanced {(after - before.Value) / 1e6:F1} ms across a 500 ms pause and {outsideNs / 1e6:F1} ms outside it");
        Thread.Sleep(100);
        Assert.True(vm.ReadGuestClock()!.Value - after >= 90_000_000, "kvmclock stopped running after the restore");
    }

    /// <summary>KVM_KVMCLOCK_CTRL at pause reaches a vCPU whose guest enabled kvmclock (here the host writes
    /// MSR_KVM_SYSTEM_TIME_NEW for it, a page in mapped RAM) and is refused, harmlessly, by one that did not.</summary>
    [KvmFact]
    public void PauseMarksOnlyTheVcpusWhoseGuestUsesKvmclock()
    {
        using var ram = new GuestMemoryRegion(1 << 20); // outlives the VM that maps it
        using var kvm = KvmHypervisor.Open();
        using var vm = (KvmVirtualMachine)kvm.CreateVirtualMachine();
        vm.SetMemoryRegion(0, 0, ram);
        var withClock = (KvmVcpu)vm.CreateVcpu(0); // the VM disposes its vCPUs
        var without = (KvmVcpu)vm.CreateVcpu(1);
        Assert.Equal(0, vm.MarkVcpusStopped());
        const uint MsrKvmSystemTimeNew = 0x4B56_4D01;
        withClock.SetMsr(MsrKvmSystemTimeNew, 0x1000 | 1); // the pvclock page at 4 KiB, enabled
        Assert.True(withClock.MarkGuestStopped());
        Assert.False(without.MarkGuestStopped());
        Assert.Equal(1, vm.MarkVcpusStopped());
    }
}
