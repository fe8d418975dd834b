using System.Runtime.InteropServices;
using Vessel.Hypervisor;

namespace Vessel.Kvm;

/// <summary>MSI-X vectors as GSIs: each gets a GSI above the IOAPIC's pins, routed to its message by
/// KVM_SET_GSI_ROUTING, and an irqfd on that GSI, so a device raises it with one eventfd write. Setting a
/// routing table replaces KVM's default one, so every table set here starts with the default's irqchip entries
/// (GSIs 0-15 to the PIC pair and the IOAPIC, 16-23 to the IOAPIC) and the PC devices' lines keep working.</summary>
public sealed unsafe partial class KvmVirtualMachine
{
    /// <summary>KVM_MAX_IRQ_ROUTES on x86 (include/linux/kvm_host.h; not in the uapi headers).</summary>
    internal const int MaxIrqRoutes = 4096;
    /// <summary>The in-kernel IOAPIC's pins are GSIs 0-23; vectors take the GSIs after them.</summary>
    internal const uint FirstMsiGsi = 24;
    private const int IoapicPins = 24, PicPins = 16;

    private readonly Lock _routingLock = new();
    /// <summary>Allocated vector GSIs, with their message once routed.</summary>
    private readonly Dictionary<uint, (ulong Address, uint Data)?> _msiRoutes = new();

    /// <summary>A GSI with an irqfd per vector where KVM has routing and irqfds; otherwise each raise is a
    /// KVM_SIGNAL_MSI.</summary>
    public IMsiRoute CreateMsiRoute()
    {
        if (!_hypervisor.IrqRouting || !_hypervisor.Capabilities.IoEvents) return new SignalledMsiRoute(this);
        return new KvmMsiRoute(this, AllocateMsiGsi());
    }

    /// <summary>The GSIs currently routed to MSI messages, for tests and diagnostics.</summary>
    internal int RoutedMsiCount
    {
        get { lock (_routingLock) return _msiRoutes.Values.Count(m => m is not null); }
    }

    private uint AllocateMsiGsi()
    {
        lock (_routingLock)
        {
            uint gsi = FirstMsiGsi;
            while (_msiRoutes.ContainsKey(gsi)) gsi++;
            if (gsi >= MaxIrqRoutes) throw new KvmException($"no GSI left for another MSI-X vector ({MaxIrqRoutes} routes)");
            _msiRoutes[gsi] = null;
            return gsi;
        }
    }

    /// <summary>Routes <paramref name="gsi"/> to the message; the table is unchanged when KVM refuses it.</summary>
    internal void RouteMsi(uint gsi, ulong address, uint data)
    {
        lock (_routingLock)
        {
            var previous = _msiRoutes[gsi];
            _msiRoutes[gsi] = (address, data);
            try
            {
                CommitRoutingLocked();
            }
            catch
            {
                _msiRoutes[gsi] = previous;
                throw;
            }
        }
    }

    /// <summary>Drops the GSI's route. A closed VM has no table left to change; a refusal leaves a route no irqfd
    /// signals any more, which is harmless, so it is not thrown at a device being disposed.</summary>
    internal void FreeMsiGsi(uint gsi)
    {
        lock (_routingLock)
        {
            if (_msiRoutes.Remove(gsi, out var message) && message is not null && _fd >= 0)
            {
                try { CommitRoutingLocked(); }
                catch (KvmException) { }
            }
        }
    }

    private void CommitRoutingLocked()
    {
        int count = PicPins + IoapicPins;
        foreach (var m in _msiRoutes.Values) if (m is not null) count++;
        int size = sizeof(KvmIrqRoutingHeader) + count * sizeof(KvmIrqRoutingEntry);
        byte* buffer = (byte*)NativeMemory.AllocZeroed((nuint)size);
        try
        {
            *(KvmIrqRoutingHeader*)buffer = new KvmIrqRoutingHeader { Nr = (uint)count };
            var entries = new Span<KvmIrqRoutingEntry>(buffer + sizeof(KvmIrqRoutingHeader), count);
            int i = 0;
            for (uint pin = 0; pin < IoapicPins; pin++)
            {
                entries[i++] = new KvmIrqRoutingEntry
                {
                    Gsi = pin, Type = KvmIrqRoutingEntry.TypeIrqchip, Irqchip = KvmIrqRoutingEntry.IrqchipIoapic, IrqchipPin = pin,
                };
                if (pin < PicPins)
                    entries[i++] = new KvmIrqRoutingEntry
                    {
                        Gsi = pin, Type = KvmIrqRoutingEntry.TypeIrqchip, IrqchipPin = pin % 8,
                        Irqchip = pin < 8 ? KvmIrqRoutingEntry.IrqchipPicMaster : KvmIrqRoutingEntry.IrqchipPicSlave,
                    };
            }
            foreach (var (gsi, message) in _msiRoutes)
            {
                if (message is not { } m) continue;
                entries[i++] = new KvmIrqRoutingEntry
                {
                    Gsi = gsi, Type = KvmIrqRoutingEntry.TypeMsi,
                    MsiAddressLo = (uint)m.Address, MsiAddressHi = (uint)(m.Address >> 32), MsiData = m.Data,
                };
            }
            Check(KvmNative.Ioctl(Fd, KvmIoctls.SetGsiRouting, buffer), $"KVM_SET_GSI_ROUTING ({count} entries)");
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }
}

/// <summary>One vector on kvm: its GSI, its eventfd and the irqfd joining them. Until a route is in place (or
/// after KVM refused one) a raise is sent as a KVM_SIGNAL_MSI of the last message, so none is lost. Update and
/// Fire come serialized (the MSI-X table's lock).</summary>
internal sealed class KvmMsiRoute(KvmVirtualMachine vm, uint gsi) : IMsiRoute
{
    private readonly EventNotifier _notifier = new();
    private IDisposable? _irqfd;
    private ulong _address;
    private uint _data;
    private bool _direct = true;
    private int _disposed;

    public uint Gsi => gsi;

    public void Update(ulong address, uint data)
    {
        if (!_direct && address == _address && data == _data) return;
        _address = address;
        _data = data;
        _direct = true;
        vm.RouteMsi(gsi, address, data);
        _irqfd ??= vm.AddIrqEvent(gsi, _notifier);
        _direct = false;
    }

    public void Fire()
    {
        if (_direct) vm.SignalMsi(_address, _data);
        else _notifier.Signal();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _irqfd?.Dispose();
        vm.FreeMsiGsi(gsi);
        _notifier.Dispose();
    }
}
