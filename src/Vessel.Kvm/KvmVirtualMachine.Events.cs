using System.Runtime.InteropServices;
using Vessel.Hypervisor;

namespace Vessel.Kvm;

/// <summary>Doorbells (KVM_IOEVENTFD) and interrupt events (KVM_IRQFD): the kernel signals or takes the
/// eventfd itself, so neither a doorbell write nor an interrupt raise passes through Vessel's run loop.</summary>
public sealed unsafe partial class KvmVirtualMachine
{
    public IDisposable AddIoEvent(IoEvent ioEvent, EventNotifier notifier)
    {
        ioEvent.Validate();
        RequireIoEvents();
        var request = new KvmIoeventfd
        {
            Addr = ioEvent.Address, Len = (uint)ioEvent.Size, Fd = notifier.Fd, Datamatch = ioEvent.Value ?? 0,
            Flags = (ioEvent.Space == IoEventSpace.Port ? KvmIoeventfd.FlagPio : 0) | (ioEvent.Value is null ? 0 : KvmIoeventfd.FlagDatamatch),
        };
        Ioeventfd(request, $"KVM_IOEVENTFD {ioEvent}");
        request.Flags |= KvmIoeventfd.FlagDeassign;
        return new Registration(this, () => Ioeventfd(request, $"KVM_IOEVENTFD {ioEvent} (remove)"));
    }

    public IDisposable AddIrqEvent(uint gsi, EventNotifier notifier)
    {
        RequireIoEvents();
        var request = new KvmIrqfd { Fd = (uint)notifier.Fd, Gsi = gsi };
        Irqfd(request, $"KVM_IRQFD gsi {gsi}");
        request.Flags |= KvmIrqfd.FlagDeassign;
        return new Registration(this, () => Irqfd(request, $"KVM_IRQFD gsi {gsi} (remove)"));
    }

    private void Ioeventfd(KvmIoeventfd request, string what) => Check(KvmNative.Ioctl(Fd, KvmIoctls.Ioeventfd, &request), what);

    private void Irqfd(KvmIrqfd request, string what) => Check(KvmNative.Ioctl(Fd, KvmIoctls.Irqfd, &request), what);

    private void RequireIoEvents()
    {
        if (!_hypervisor.Capabilities.IoEvents)
            throw new NotSupportedException("this KVM lacks KVM_CAP_IOEVENTFD or KVM_CAP_IRQFD");
    }

    /// <summary>Removes its registration once; after the VM is closed there is nothing left to remove.</summary>
    private sealed class Registration(KvmVirtualMachine vm, Action remove) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0 && vm._fd >= 0) remove();
        }
    }
}
