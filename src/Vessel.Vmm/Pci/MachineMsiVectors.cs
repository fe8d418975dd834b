using Microsoft.Extensions.Logging;
using Vessel.Devices.Pci;
using Vessel.Hypervisor;

namespace Vessel.Vmm.Pci;

/// <summary>One function's MSI-X vectors as backend MSI routes (<see cref="IVirtualMachine.CreateMsiRoute"/>):
/// on kvm a GSI and an irqfd each, so a device's raise is an eventfd write and no ioctl. A vector gets its route
/// when the guest first unmasks it. A route or message the backend refuses (a driver that programmed a nonsense
/// address) is dropped with one log line rather than thrown into a device or vCPU thread. Dispose after the
/// function (its device threads may raise until then).</summary>
internal sealed partial class MachineMsiVectors(IVirtualMachine vm, ILogger logger, string name) : IMsiVectors, IDisposable
{
    private IMsiRoute?[] _routes = new IMsiRoute?[4];
    private int _logged;
    private bool _disposed;

    public void Route(int vector, ulong address, uint data)
    {
        if (_disposed || (uint)vector >= MsixTable.MaxVectors) return;
        try
        {
            if (vector >= _routes.Length) Array.Resize(ref _routes, Math.Min(MsixTable.MaxVectors, Math.Max(vector + 1, _routes.Length * 2)));
            (_routes[vector] ??= vm.CreateMsiRoute()).Update(address, data);
        }
        catch (Exception e)
        {
            // kvm reports an ioctl failure as its own exception type; the vector then raises through SignalMsi.
            if (Interlocked.Exchange(ref _logged, 1) == 0) LogRouteRefused(logger, name, vector, address, data, e.Message);
        }
    }

    public void Fire(int vector, ulong address, uint data)
    {
        try
        {
            var route = (uint)vector < (uint)_routes.Length ? _routes[vector] : null;
            if (route is null || _disposed) vm.SignalMsi(address, data);
            else route.Fire();
        }
        catch (Exception e)
        {
            if (Interlocked.Exchange(ref _logged, 1) == 0) LogRefused(logger, name, address, data, e.Message);
        }
    }

    public void Dispose()
    {
        _disposed = true;
        foreach (var route in _routes) route?.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: MSI-X vector {Vector} (0x{Address:x}/0x{Data:x}) could not be routed: {Reason}; it is sent as a message instead (further refusals not logged)")]
    private static partial void LogRouteRefused(ILogger logger, string name, int vector, ulong address, uint data, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: MSI 0x{Address:x}/0x{Data:x} refused by the backend: {Reason} (further refusals not logged)")]
    private static partial void LogRefused(ILogger logger, string name, ulong address, uint data, string reason);
}
