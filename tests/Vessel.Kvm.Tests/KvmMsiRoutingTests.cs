using Vessel.Cli.Tests;
using Vessel.Hypervisor;

namespace Vessel.Kvm.Tests;

/// <summary>MSI-X vectors as GSIs on whatever /dev/kvm the machine has: KVM takes the routing table (its default
/// irqchip entries plus one MSI entry per routed vector) and the irqfds, GSIs are reused once freed, and the legacy
/// lines still reach the in-kernel irqchip after the table is replaced. Interrupt delivery itself is checked in
/// the nested lane, where Debian's virtio drivers run on these vectors.</summary>
public sealed class KvmMsiRoutingTests
{
    [KvmFact]
    public void VectorsGetGsisAboveTheIoapicAndLeaveTheTableWhenDisposed()
    {
        using var kvm = KvmHypervisor.Open();
        using var vm = (KvmVirtualMachine)kvm.CreateVirtualMachine();
        var a = vm.CreateMsiRoute();
        var b = vm.CreateMsiRoute();
        try
        {
            if (!kvm.IrqRouting || !kvm.Capabilities.IoEvents)
            {
                Assert.IsType<SignalledMsiRoute>(a);
                return;
            }
            var ka = Assert.IsType<KvmMsiRoute>(a);
            var kb = Assert.IsType<KvmMsiRoute>(b);
            Assert.Equal(KvmVirtualMachine.FirstMsiGsi, ka.Gsi);
            Assert.Equal(KvmVirtualMachine.FirstMsiGsi + 1, kb.Gsi);
            Assert.Equal(0, vm.RoutedMsiCount);

            a.Update(0xFEE0_0000, 0x4041);
            b.Update(0xFEE0_0000, 0x4042);
            Assert.Equal(2, vm.RoutedMsiCount);
            a.Update(0xFEE0_1000, 0x4043); // rerouted in place
            Assert.Equal(2, vm.RoutedMsiCount);
            a.Fire(); // an eventfd write KVM takes through the irqfd (no vCPU to deliver to: dropped)
            vm.SetIrqLine(4, true); // the IOAPIC/PIC entries survived the replaced table
            vm.SetIrqLine(4, false);

            a.Dispose();
            Assert.Equal(1, vm.RoutedMsiCount);
            using var c = Assert.IsType<KvmMsiRoute>(vm.CreateMsiRoute());
            Assert.Equal(KvmVirtualMachine.FirstMsiGsi, c.Gsi); // the freed GSI is taken again
        }
        finally
        {
            a.Dispose();
            b.Dispose();
        }
    }

    [KvmFact]
    public void ARouteKvmRefusesLeavesTheTableAsItWasAndTheVectorSendsMessages()
    {
        using var kvm = KvmHypervisor.Open();
        if (!kvm.IrqRouting || !kvm.Capabilities.IoEvents) return;
        using var vm = (KvmVirtualMachine)kvm.CreateVirtualMachine();
        using var route = vm.CreateMsiRoute();
        route.Update(0xFEE0_0000, 0x4041);
        Assert.Equal(1, vm.RoutedMsiCount);
        vm.Dispose(); // every later ioctl fails: the VM fd is gone
        Assert.ThrowsAny<Exception>(() => route.Update(0xFEE0_0000, 0x4050));
        Assert.Equal(1, vm.RoutedMsiCount);
    }
}
