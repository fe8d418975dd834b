using Microsoft.Extensions.Logging;
using Vessel.Hypervisor;
using Vessel.Virtio.Pci;

namespace Vessel.Vmm.Pci;

/// <summary>Queue doorbells as backend I/O events: the guest's notify write signals an eventfd (in the kernel
/// on kvm, in the vCPU loop on emu) without leaving the vCPU, and one "virtio doorbells" thread runs the
/// transport's kick. A backend without I/O events gets none, and the write comes as an MMIO exit instead.</summary>
internal sealed partial class MachineDoorbells(IVirtualMachine vm, ILogger logger) : IVirtioDoorbells, IDisposable
{
    private readonly Lock _lock = new();
    private EventNotifierPump? _pump;
    private bool _unsupported, _disposed;

    public IDisposable? Add(ulong address, int size, Action ring)
    {
        lock (_lock)
        {
            if (_unsupported || _disposed) return null;
            var notifier = new EventNotifier();
            IDisposable ioEvent;
            try
            {
                ioEvent = vm.AddIoEvent(IoEvent.Mmio(address, size), notifier);
            }
            catch (Exception e)
            {
                // Not fatal (kvm reports refusals as its own exception type): the notify write reaches the transport through the MMIO bus instead.
                notifier.Dispose();
                if (e is NotSupportedException) _unsupported = true;
                else LogNoDoorbell(logger, address, e.Message);
                return null;
            }
            _pump ??= new EventNotifierPump("virtio doorbells", e => LogKickFailed(logger, e));
            var handler = _pump.Add(notifier, ring);
            return new Registration(ioEvent, handler, notifier);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _pump?.Dispose();
        }
    }

    private sealed class Registration(IDisposable ioEvent, IDisposable handler, EventNotifier notifier) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            ioEvent.Dispose();
            handler.Dispose();
            notifier.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "no doorbell at 0x{Address:x} ({Reason}); notifications come as MMIO writes")]
    private static partial void LogNoDoorbell(ILogger logger, ulong address, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "a queue kick failed")]
    private static partial void LogKickFailed(ILogger logger, Exception exception);
}
