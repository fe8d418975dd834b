using Microsoft.Extensions.Logging;
using Vessel.Devices;
using Vessel.Devices.Pci;
using Vessel.Hypervisor;

namespace Vessel.Virtio.Pci;

/// <summary>The virtio 1.x modern PCI transport for one device: the function's configuration space and
/// capabilities, the common configuration (feature negotiation, device status and reset, queue set-up), ISR
/// status with INTx, MSI-X vectors, device configuration and queue notifications (through doorbells when the
/// machine has them). Device calls (activate, notify, reset, configuration) are serialised by one lock; device
/// interrupts take only a second, small one, so a device's I/O thread never waits for a vCPU.
/// Nothing a driver writes throws: a protocol error puts the device in DEVICE_NEEDS_RESET.</summary>
public sealed class VirtioPciFunction : IPciFunction, IVirtioInterrupt, IDisposable
{
    public const ushort NoVector = 0xFFFF;

    // Device status bits (virtio 1.x, 2.1).
    public const byte StatusAcknowledge = 1, StatusDriver = 2, StatusDriverOk = 4, StatusFeaturesOk = 8,
        StatusNeedsReset = 0x40, StatusFailed = 0x80;

    public const byte IsrQueue = 1, IsrConfig = 2;

    private readonly IVirtioDevice _device;
    private readonly GuestMemory _memory;
    private readonly IInterruptLine _intx;
    private readonly IVirtioDoorbells? _doorbells;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly Lock _lock = new();      // registers and device calls
    private readonly Lock _irqLock = new();   // ISR and the INTx level
    private readonly Lock _doorbellLock = new();
    private readonly QueueState[] _queues;
    private readonly List<IDisposable> _doorbellRegistrations = [];

    private uint _deviceFeatureSelect, _driverFeatureSelect;
    private ulong _driverFeatures;
    private int _status;                      // Interlocked: NeedsReset sets a bit from device threads
    private int _needsResetLogged;
    private int _configGeneration;
    private ushort _configVector = NoVector;
    private ushort _queueSelect;
    private bool _active;
    private byte _isr;
    private bool _intxLevel;

    private sealed class QueueState
    {
        public ushort Size;
        public ushort Vector = NoVector;
        public bool Enabled;
        public ulong Descriptors, Driver, Device;
    }

    /// <param name="device">the device this transport serves; disposed with it</param>
    /// <param name="memory">guest memory, handed to the device on activation</param>
    /// <param name="intx">the INTA line of this slot</param>
    /// <param name="signalMsi">sends an MSI message (address, data)</param>
    /// <param name="doorbells">exit-less notifications, or null for the MMIO write path only</param>
    /// <param name="name">for log lines (e.g. "virtio-blk vda at 00:02.0")</param>
    public VirtioPciFunction(IVirtioDevice device, GuestMemory memory, IInterruptLine intx, Action<ulong, uint> signalMsi,
        IVirtioDoorbells? doorbells, ILogger logger, string name)
        : this(device, memory, intx, new MsiMessageSender(signalMsi), doorbells, logger, name)
    {
    }

    /// <param name="msiVectors">routes and raises the MSI-X vectors (on kvm: a GSI and an irqfd each)</param>
    public VirtioPciFunction(IVirtioDevice device, GuestMemory memory, IInterruptLine intx, IMsiVectors msiVectors,
        IVirtioDoorbells? doorbells, ILogger logger, string name)
    {
        _device = device;
        _memory = memory;
        _intx = intx;
        _doorbells = doorbells;
        _logger = logger;
        _name = name;
        int queueCount = device.QueueCount;
        if (queueCount < 1 || queueCount + 1 > VirtioPciLayout.MaxVectors || queueCount * VirtioPciLayout.NotifyOffMultiplier > VirtioPciLayout.RegionLength)
            throw new ArgumentException($"{name}: {queueCount} queues is more than this transport serves", nameof(device));
        if (device.ConfigSize > VirtioPciLayout.RegionLength)
            throw new ArgumentException($"{name}: {device.ConfigSize} bytes of device configuration do not fit a page", nameof(device));
        _queues = new QueueState[queueCount];
        for (int q = 0; q < queueCount; q++) _queues[q] = new QueueState { Size = device.MaxQueueSize(q) };

        var type = device.DeviceType;
        Config = new PciConfigSpace(VirtioPciLayout.VendorId, (ushort)(VirtioPciLayout.ModernDeviceIdBase + (ushort)type),
            VirtioPciLayout.ClassFor(type), revision: 1, subsystemVendorId: VirtioPciLayout.VendorId,
            subsystemId: VirtioPciLayout.SubsystemId) { Pin = 1 };
        Config.AddMemoryBar(VirtioPciLayout.MsixBar, VirtioPciLayout.MsixBarSize);
        Config.AddMemoryBar(VirtioPciLayout.RegisterBar, VirtioPciLayout.RegisterBarSize, is64Bit: true);
        Msix = new MsixTable(Config, queueCount + 1, VirtioPciLayout.MsixBar, VirtioPciLayout.MsixTableOffset,
            VirtioPciLayout.MsixPbaOffset, msiVectors);
        int bar = VirtioPciLayout.RegisterBar;
        VirtioPciLayout.AddVendorCapability(Config, VirtioPciLayout.CommonCfg, bar, VirtioPciLayout.CommonOffset, VirtioPciLayout.CommonLength);
        VirtioPciLayout.AddVendorCapability(Config, VirtioPciLayout.NotifyCfg, bar, VirtioPciLayout.NotifyOffset,
            (uint)queueCount * VirtioPciLayout.NotifyOffMultiplier);
        VirtioPciLayout.AddVendorCapability(Config, VirtioPciLayout.IsrCfg, bar, VirtioPciLayout.IsrOffset, VirtioPciLayout.IsrLength);
        if (device.ConfigSize > 0)
            VirtioPciLayout.AddVendorCapability(Config, VirtioPciLayout.DeviceCfg, bar, VirtioPciLayout.DeviceConfigOffset, (uint)device.ConfigSize);
    }

    public PciConfigSpace Config { get; }
    public MsixTable Msix { get; }
    public IVirtioDevice Device => _device;
    public byte Status => (byte)Volatile.Read(ref _status);

    public ulong ReadBar(int bar, ulong offset, int size)
    {
        if (bar == VirtioPciLayout.MsixBar) return Msix.Read(offset, size);
        if (bar != VirtioPciLayout.RegisterBar) return ulong.MaxValue;
        switch (offset)
        {
            case < VirtioPciLayout.CommonOffset + VirtioPciLayout.CommonLength:
                lock (_lock) return ReadCommon((int)offset, size);
            case >= VirtioPciLayout.IsrOffset and < VirtioPciLayout.IsrOffset + VirtioPciLayout.IsrLength:
                return offset == VirtioPciLayout.IsrOffset ? TakeIsr() : 0UL;
            case >= VirtioPciLayout.DeviceConfigOffset and < VirtioPciLayout.DeviceConfigOffset + VirtioPciLayout.RegionLength:
                return ReadDeviceConfig((int)(offset - VirtioPciLayout.DeviceConfigOffset), size);
            default:
                return 0;
        }
    }

    public void WriteBar(int bar, ulong offset, int size, ulong value)
    {
        if (bar == VirtioPciLayout.MsixBar)
        {
            Msix.Write(offset, size, value);
            return;
        }
        if (bar != VirtioPciLayout.RegisterBar) return;
        switch (offset)
        {
            case < VirtioPciLayout.CommonOffset + VirtioPciLayout.CommonLength:
                lock (_lock) WriteCommon((int)offset, size, value);
                break;
            case >= VirtioPciLayout.DeviceConfigOffset and < VirtioPciLayout.DeviceConfigOffset + VirtioPciLayout.RegionLength:
                WriteDeviceConfig((int)(offset - VirtioPciLayout.DeviceConfigOffset), size, value);
                break;
            case >= VirtioPciLayout.NotifyOffset and < VirtioPciLayout.NotifyOffset + VirtioPciLayout.RegionLength:
                ulong slot = (offset - VirtioPciLayout.NotifyOffset) / VirtioPciLayout.NotifyOffMultiplier;
                if ((offset - VirtioPciLayout.NotifyOffset) % VirtioPciLayout.NotifyOffMultiplier == 0 && slot < (ulong)_queues.Length)
                    Kick((int)slot);
                break;
        }
    }

    public void ConfigWritten(int offset, int size)
    {
        int control = Msix.CapabilityOffset + 2;
        if (offset < control + 2 && control < offset + size)
        {
            Msix.ControlWritten();
            UpdateIntx();
        }
        else if (offset < PciConfigSpace.Command + 2 && PciConfigSpace.Command < offset + size)
        {
            UpdateIntx();
        }
    }

    /// <summary>The register BAR moved or stopped decoding: the notification doorbells follow it.</summary>
    public void BarMapped(int bar, ulong? address)
    {
        if (bar != VirtioPciLayout.RegisterBar || _doorbells is null) return;
        lock (_doorbellLock)
        {
            foreach (var registration in _doorbellRegistrations) registration.Dispose();
            _doorbellRegistrations.Clear();
            if (address is not { } b) return;
            for (int q = 0; q < _queues.Length; q++)
            {
                int queue = q;
                ulong doorbell = b + VirtioPciLayout.NotifyOffset + (ulong)q * VirtioPciLayout.NotifyOffMultiplier;
                if (_doorbells.Add(doorbell, 2, () => Kick(queue)) is { } registration)
                    _doorbellRegistrations.Add(registration);
            }
        }
    }

    // --- common configuration (virtio 1.x, 4.1.4.3); called under _lock ---

    private ulong ReadCommon(int offset, int size)
    {
        var queue = _queueSelect < _queues.Length ? _queues[_queueSelect] : null;
        ulong value = offset switch
        {
            0x00 => _deviceFeatureSelect,
            0x04 => _deviceFeatureSelect < 2 ? (uint)(_device.OfferedFeatures >> (int)(32 * _deviceFeatureSelect)) : 0u,
            0x08 => _driverFeatureSelect,
            0x0C => _driverFeatureSelect < 2 ? (uint)(_driverFeatures >> (int)(32 * _driverFeatureSelect)) : 0u,
            0x10 => _configVector,
            0x12 => (ulong)_queues.Length,
            0x14 => Status,
            0x15 => (byte)Volatile.Read(ref _configGeneration),
            0x16 => _queueSelect,
            0x18 => queue?.Size ?? 0,
            0x1A => queue?.Vector ?? NoVector,
            0x1C => queue is { Enabled: true } ? 1u : 0u,
            0x1E => queue is null ? 0u : _queueSelect, // queue_notify_off: queue q rings notify + q * multiplier
            0x20 => queue?.Descriptors ?? 0,
            0x24 => (queue?.Descriptors ?? 0) >> 32,
            0x28 => queue?.Driver ?? 0,
            0x2C => (queue?.Driver ?? 0) >> 32,
            0x30 => queue?.Device ?? 0,
            0x34 => (queue?.Device ?? 0) >> 32,
            _ => 0,
        };
        return size switch { 1 => value & 0xFF, 2 => value & 0xFFFF, 4 => value & 0xFFFF_FFFF, _ => value };
    }

    private void WriteCommon(int offset, int size, ulong value)
    {
        var queue = _queueSelect < _queues.Length ? _queues[_queueSelect] : null;
        bool queueWritable = queue is { Enabled: false } && (Status & StatusDriverOk) == 0;
        switch (offset)
        {
            case 0x00: _deviceFeatureSelect = (uint)value; break;
            case 0x08: _driverFeatureSelect = (uint)value; break;
            case 0x0C:
                if ((Status & StatusFeaturesOk) != 0 || _driverFeatureSelect >= 2) break;
                int shift = (int)(32 * _driverFeatureSelect);
                _driverFeatures = (_driverFeatures & ~(0xFFFF_FFFFUL << shift)) | ((value & 0xFFFF_FFFF) << shift);
                break;
            case 0x10: _configVector = CheckedVector(value); break;
            case 0x14: WriteStatus((byte)value); break;
            case 0x16: _queueSelect = (ushort)value; break;
            case 0x18: if (queueWritable) queue!.Size = (ushort)value; break;
            case 0x1A: if (queue is not null) queue.Vector = CheckedVector(value); break;
            case 0x1C: if (queueWritable && (value & 1) != 0) queue!.Enabled = true; break;
            case 0x20: if (queueWritable) queue!.Descriptors = Merge(queue.Descriptors, false, size, value); break;
            case 0x24: if (queueWritable) queue!.Descriptors = Merge(queue.Descriptors, true, size, value); break;
            case 0x28: if (queueWritable) queue!.Driver = Merge(queue.Driver, false, size, value); break;
            case 0x2C: if (queueWritable) queue!.Driver = Merge(queue.Driver, true, size, value); break;
            case 0x30: if (queueWritable) queue!.Device = Merge(queue.Device, false, size, value); break;
            case 0x34: if (queueWritable) queue!.Device = Merge(queue.Device, true, size, value); break;
        }
    }

    /// <summary>A 64-bit queue address written as two dwords (or as one qword at the low offset).</summary>
    private static ulong Merge(ulong current, bool high, int size, ulong value) =>
        high ? (current & 0xFFFF_FFFF) | (value & 0xFFFF_FFFF) << 32
        : size == 8 ? value : (current & ~0xFFFF_FFFFUL) | (value & 0xFFFF_FFFF);

    /// <summary>A vector the table has, else NO_VECTOR (what the driver reads back to learn it failed).</summary>
    private ushort CheckedVector(ulong value) => value < (ulong)Msix.VectorCount ? (ushort)value : NoVector;

    private void WriteStatus(byte value)
    {
        if (value == 0)
        {
            ResetDevice();
            return;
        }
        int old = Status;
        int next = value | (old & StatusNeedsReset);
        if ((next & StatusFeaturesOk) != 0 && (old & StatusFeaturesOk) == 0 && !FeaturesAcceptable())
            next &= ~StatusFeaturesOk;
        SetStatus(next);
        if ((next & StatusDriverOk) != 0 && !_active && (next & StatusFeaturesOk) != 0 && (next & (StatusFailed | StatusNeedsReset)) == 0)
            Activate();
    }

    private bool FeaturesAcceptable()
    {
        ulong unoffered = _driverFeatures & ~_device.OfferedFeatures;
        if (unoffered != 0)
        {
            VirtioPciLog.FeaturesRefused(_logger, _name, _driverFeatures, _device.OfferedFeatures);
            return false;
        }
        return (_driverFeatures & VirtioFeatures.Version1) != 0;
    }

    private void Activate()
    {
        var queues = new VirtioQueueConfig?[_queues.Length];
        for (int q = 0; q < _queues.Length; q++)
        {
            var state = _queues[q];
            if (!state.Enabled) continue;
            ushort max = _device.MaxQueueSize(q);
            if (state.Size == 0 || state.Size > max || !ushort.IsPow2(state.Size))
            {
                NeedsReset($"queue {q} size {state.Size} is not a power of two up to {max}");
                return;
            }
            queues[q] = new VirtioQueueConfig(state.Size, state.Descriptors, state.Driver, state.Device);
        }
        try
        {
            _device.Activate(new VirtioActivation(_memory, _driverFeatures, queues, this));
            _active = true;
        }
        catch (Exception e)
        {
            // The driver's queue set-up reached a device that refused it; whatever the device threw, the vCPU
            // thread must not see it.
            NeedsReset($"activation failed: {e.Message}");
        }
    }

    private void ResetDevice()
    {
        if (_active) _device.Reset();
        _active = false;
        _driverFeatures = 0;
        _deviceFeatureSelect = _driverFeatureSelect = 0;
        _configVector = NoVector;
        _queueSelect = 0;
        for (int q = 0; q < _queues.Length; q++) _queues[q] = new QueueState { Size = _device.MaxQueueSize(q) };
        SetStatus(0);
        Volatile.Write(ref _needsResetLogged, 0);
        lock (_irqLock)
        {
            _isr = 0;
            UpdateIntxLocked();
        }
    }

    private void SetStatus(int value)
    {
        int seen;
        do seen = Volatile.Read(ref _status);
        while (Interlocked.CompareExchange(ref _status, value, seen) != seen);
    }

    private void Kick(int queue)
    {
        lock (_lock)
        {
            if (!_active || !_queues[queue].Enabled || (Status & StatusNeedsReset) != 0) return;
            try
            {
                _device.QueueNotify(queue);
            }
            catch (Exception e)
            {
                NeedsReset($"queue {queue} notification failed: {e.Message}");
            }
        }
    }

    private ulong ReadDeviceConfig(int offset, int size)
    {
        if (size > 8 || offset + size > _device.ConfigSize) return 0;
        Span<byte> bytes = stackalloc byte[8];
        bytes.Clear();
        lock (_lock) _device.ReadConfig(offset, bytes[..size]);
        return BitConverter.ToUInt64(bytes);
    }

    private void WriteDeviceConfig(int offset, int size, ulong value)
    {
        if (size > 8 || offset + size > _device.ConfigSize) return;
        Span<byte> bytes = stackalloc byte[8];
        BitConverter.TryWriteBytes(bytes, value);
        lock (_lock) _device.WriteConfig(offset, bytes[..size]);
    }

    // --- interrupts (any thread) ---

    public void QueueInterrupt(int queueIndex)
    {
        if ((uint)queueIndex >= (uint)_queues.Length) return;
        if (Msix.Enabled)
        {
            ushort vector = _queues[queueIndex].Vector;
            if (vector != NoVector) Msix.Notify(vector);
            return;
        }
        RaiseIsr(IsrQueue);
    }

    public void ConfigInterrupt()
    {
        Interlocked.Increment(ref _configGeneration);
        if (Msix.Enabled)
        {
            if (_configVector != NoVector) Msix.Notify(_configVector);
            return;
        }
        RaiseIsr(IsrConfig);
    }

    public void NeedsReset(string reason)
    {
        int seen;
        do seen = Volatile.Read(ref _status);
        while (Interlocked.CompareExchange(ref _status, seen | StatusNeedsReset, seen) != seen);
        if (Interlocked.Exchange(ref _needsResetLogged, 1) == 0) VirtioPciLog.NeedsReset(_logger, _name, reason);
        ConfigInterrupt();
    }

    private void RaiseIsr(byte bit)
    {
        lock (_irqLock)
        {
            _isr |= bit;
            UpdateIntxLocked();
        }
    }

    private byte TakeIsr()
    {
        lock (_irqLock)
        {
            byte isr = _isr;
            _isr = 0;
            UpdateIntxLocked();
            return isr;
        }
    }

    private void UpdateIntx()
    {
        lock (_irqLock) UpdateIntxLocked();
    }

    private void UpdateIntxLocked()
    {
        bool level = _isr != 0 && !Msix.Enabled && !Config.InterruptDisabled;
        if (level == _intxLevel) return;
        _intxLevel = level;
        _intx.Set(level);
    }

    public void Dispose()
    {
        lock (_doorbellLock)
        {
            foreach (var registration in _doorbellRegistrations) registration.Dispose();
            _doorbellRegistrations.Clear();
        }
        _device.Dispose();
    }
}

internal static partial class VirtioPciLog
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "{Device}: DEVICE_NEEDS_RESET: {Reason}")]
    public static partial void NeedsReset(ILogger logger, string device, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Device}: driver features 0x{Driver:x} include some not offered (0x{Offered:x}); FEATURES_OK refused")]
    public static partial void FeaturesRefused(ILogger logger, string device, ulong driver, ulong offered);
}
