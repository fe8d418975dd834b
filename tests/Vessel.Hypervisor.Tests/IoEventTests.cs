using Iced.Intel;
using Vessel.Cli.Tests;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Hypervisor.Tests;

/// <summary>Doorbells (<see cref="IVirtualMachine.AddIoEvent"/>) and interrupt events
/// (<see cref="IVirtualMachine.AddIrqEvent"/>) behave the same on every backend: a matching guest write signals
/// the notifier and never leaves Run; any other write still exits; a signalled notifier interrupts the guest
/// with no call into the backend from the test. kvm runs where /dev/kvm opens (KVM_IOEVENTFD, KVM_IRQFD).</summary>
public sealed class IoEventTests
{
    private const ushort Doorbell = 0x6000, Done = 0x6004, Ready = 0x6008, Interrupted = 0x600c;

    [Fact] public void PortDoorbellOnEmu() => PortDoorbellSignalsWithoutExits("emu");
    [KvmFact] public void PortDoorbellOnKvm() => PortDoorbellSignalsWithoutExits("kvm");
    [Fact] public void MmioDoorbellOnEmu() => MmioDoorbellSignalsWithoutExits("emu");
    [KvmFact] public void MmioDoorbellOnKvm() => MmioDoorbellSignalsWithoutExits("kvm");
    [Fact] public void IrqEventOnEmu() => SignalledNotifierInterruptsTheGuest("emu");
    [KvmFact] public void IrqEventOnKvm() => SignalledNotifierInterruptsTheGuest("kvm");
    [Fact] public void CollidingDoorbellsOnEmu() => CollidingDoorbellsAreRefused("emu");
    [KvmFact] public void CollidingDoorbellsOnKvm() => CollidingDoorbellsAreRefused("kvm");

    /// <summary>Five doorbell writes of the registered value, one of another value, then (after removal) one more
    /// of the registered value: only the last two reach the VMM.</summary>
    private static void PortDoorbellSignalsWithoutExits(string backend)
    {
        using var hypervisor = Backend.Create(backend);
        Assert.True(hypervisor.Capabilities.IoEvents);
        using var guest = new RealModeGuest(hypervisor, a =>
        {
            var loop = a.CreateLabel();
            a.mov(dx, Doorbell);
            a.mov(ax, 0x1234);
            a.mov(cx, 5);
            a.Label(ref loop);
            a.@out(dx, ax);
            a.loop(loop);
            a.mov(ax, 0x4321);
            a.@out(dx, ax);
            a.mov(ax, 0x1234);
            a.@out(dx, ax);
            a.mov(dx, Done);
            a.@out(dx, al);
        });
        using var notifier = new EventNotifier();
        var registration = guest.Vm.AddIoEvent(IoEvent.Port(Doorbell, 2, 0x1234), notifier);

        Assert.Equal(VcpuExit.IoOut(Doorbell, 2, 0x4321), guest.NextExit());
        Assert.Equal(5UL, notifier.TryTake());
        registration.Dispose();
        Assert.Equal(VcpuExit.IoOut(Doorbell, 2, 0x1234), guest.NextExit());
        Assert.Equal(VcpuExitReason.IoOut, guest.NextExit() is { Port: Done } e ? e.Reason : default(VcpuExitReason?));
        Assert.Equal(0UL, notifier.TryTake());
    }

    /// <summary>Writes to an address no RAM backs: three to the doorbell (any value), then one beside it.</summary>
    private static void MmioDoorbellSignalsWithoutExits(string backend)
    {
        const ulong bell = 0x20000;
        using var hypervisor = Backend.Create(backend);
        using var guest = new RealModeGuest(hypervisor, a =>
        {
            a.mov(ax, (ushort)(bell >> 4));
            a.mov(ds, ax);
            a.mov(__dword_ptr[0], 0xdeadbeef);
            a.mov(__dword_ptr[0], 1);
            a.mov(__dword_ptr[0], 2);
            a.mov(__dword_ptr[0x10], 3);
            a.mov(dx, Done);
            a.@out(dx, al);
        });
        using var notifier = new EventNotifier();
        using var registration = guest.Vm.AddIoEvent(IoEvent.Mmio(bell, 4), notifier);

        Assert.Equal(VcpuExit.MmioWrite(bell + 0x10, 4, 3), guest.NextExit());
        Assert.Equal(3UL, notifier.TryTake());
        Assert.Equal(Done, guest.NextExit().Port);
    }

    /// <summary>The guest programs the 8259 (IRQ 5 at vector 0x25), says it is ready and halts with interrupts on;
    /// the test only signals the notifier. The handler's write is the next exit the VMM sees.</summary>
    private static void SignalledNotifierInterruptsTheGuest(string backend)
    {
        const byte irq = 5, vectorBase = 0x20;
        const ushort handler = 0x1800;
        using var hypervisor = Backend.Create(backend);
        using var guest = new RealModeGuest(hypervisor, a =>
        {
            var halt = a.CreateLabel();
            a.cli();
            a.xor(ax, ax);
            a.mov(ds, ax);
            a.mov(__word_ptr[(vectorBase + irq) * 4], handler);
            a.mov(__word_ptr[(vectorBase + irq) * 4 + 2], 0);
            foreach (var (port, value) in new (byte, byte)[] { (0x20, 0x11), (0x21, vectorBase), (0x21, 0x04), (0x21, 0x01), (0x21, unchecked((byte)~(1 << irq))) })
            {
                a.mov(al, value);
                a.@out(port, al);
            }
            a.mov(dx, Ready);
            a.@out(dx, al);
            a.sti();
            a.Label(ref halt);
            a.hlt();
            a.jmp(halt);
        }, (handler, a =>
        {
            a.mov(al, 0x20);
            a.@out(0x20, al); // EOI
            a.mov(dx, Interrupted);
            a.@out(dx, al);
            a.iret();
        }));
        using var notifier = new EventNotifier();
        using var registration = guest.Vm.AddIrqEvent(irq, notifier);

        Assert.Equal(Ready, guest.NextExit().Port);
        notifier.Signal();
        Assert.Equal(Interrupted, guest.NextExit().Port);
    }

    private static void CollidingDoorbellsAreRefused(string backend)
    {
        using var hypervisor = Backend.Create(backend);
        using var guest = new RealModeGuest(hypervisor, a => a.hlt());
        using var notifier = new EventNotifier();
        using var first = guest.Vm.AddIoEvent(IoEvent.Port(Doorbell, 2, 1), notifier);
        using var otherValue = guest.Vm.AddIoEvent(IoEvent.Port(Doorbell, 2, 2), notifier);
        Assert.ThrowsAny<Exception>(() => guest.Vm.AddIoEvent(IoEvent.Port(Doorbell, 2, 1), notifier));
        Assert.ThrowsAny<Exception>(() => guest.Vm.AddIoEvent(IoEvent.Port(Doorbell, 2), notifier));
        Assert.Throws<ArgumentException>(() => guest.Vm.AddIoEvent(IoEvent.Port(Doorbell, 3), notifier));
    }
}
