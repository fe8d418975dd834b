using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Vessel.Devices;

namespace Vessel.Vmm.Buses;

/// <summary>The 64 KiB x86 I/O port space. Devices own disjoint ranges and see offsets inside them.
/// Lookup is one table load; registration is copy-on-write so dispatch takes no bus-wide lock.</summary>
public sealed class PortIoBus
{
    public const int PortCount = 0x10000;

    private delegate uint ReadPort(ushort offset, int size);
    private delegate void WritePort(ushort offset, int size, uint value);

    /// <summary>One claimed range, stored inline in the table. The device's two methods are bound once, as
    /// delegates: an interface call reads a dispatch cell and its cache, two more pages on every exit (under
    /// nested virtualization each costs a page walk).</summary>
    private readonly record struct Range(ushort Base, int Length, IPortDevice Device, Lock? Gate, ReadPort Read, WritePort Write);

    private readonly Lock _registrationLock = new();
    private readonly DeviceLocks _deviceLocks;
    private readonly ILogger _logger;
    // Index + 1 into _ranges for every port; 0 = unclaimed.
    private readonly ushort[] _owner = new ushort[PortCount];
    private volatile Range[] _ranges = [];
    private readonly ulong[] _loggedUnclaimed = new ulong[PortCount / 64];

    public PortIoBus(DeviceLocks? deviceLocks = null, ILogger? logger = null)
    {
        _deviceLocks = deviceLocks ?? new DeviceLocks();
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Places <paramref name="device"/> over ports [<paramref name="basePort"/>, basePort+length).</summary>
    public void Register(ushort basePort, int length, IPortDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (length <= 0 || basePort + length > PortCount)
            throw new BusRegistrationException($"port range 0x{basePort:x}+{length} is empty or beyond 0xffff");
        lock (_registrationLock)
        {
            for (int port = basePort; port < basePort + length; port++)
                if (_owner[port] != 0)
                {
                    var other = _ranges[_owner[port] - 1];
                    throw new BusRegistrationException(
                        $"ports 0x{basePort:x}-0x{basePort + length - 1:x} ({device.GetType().Name}) overlap " +
                        $"0x{other.Base:x}-0x{other.Base + other.Length - 1:x} ({other.Device.GetType().Name})");
                }
            var range = new Range(basePort, length, device, _deviceLocks.For(device), device.Read, device.Write);
            _ranges = [.. _ranges, range];
            ushort index = (ushort)_ranges.Length;
            for (int port = basePort; port < basePort + length; port++)
                _owner[port] = index;
        }
    }

    /// <summary>The device that owns <paramref name="port"/>, if any.</summary>
    public IPortDevice? DeviceAt(ushort port)
    {
        int index = _owner[port];
        return index == 0 ? null : _ranges[index - 1].Device;
    }

    /// <summary>An IN of <paramref name="size"/> bytes (1, 2 or 4); all ones if no device owns the port.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Read(ushort port, int size)
    {
        AccessSize.Validate(size, 4);
        int index = _owner[port];
        uint mask = (uint)AccessSize.AllOnes(size);
        if (index == 0)
        {
            LogUnclaimed(port, size, "read");
            return mask;
        }
        ref readonly Range range = ref _ranges[index - 1];
        ushort offset = (ushort)(port - range.Base);
        if (range.Gate is null) return range.Read(offset, size) & mask;
        lock (range.Gate)
            return range.Read(offset, size) & mask;
    }

    /// <summary>An OUT of <paramref name="size"/> bytes; dropped if no device owns the port.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(ushort port, int size, uint value)
    {
        AccessSize.Validate(size, 4);
        int index = _owner[port];
        if (index == 0)
        {
            LogUnclaimed(port, size, "write");
            return;
        }
        ref readonly Range range = ref _ranges[index - 1];
        ushort offset = (ushort)(port - range.Base);
        value &= (uint)AccessSize.AllOnes(size);
        if (range.Gate is null)
        {
            range.Write(offset, size, value);
            return;
        }
        lock (range.Gate)
            range.Write(offset, size, value);
    }

    private void LogUnclaimed(ushort port, int size, string direction)
    {
        if (!_logger.IsEnabled(LogLevel.Debug)) return;
        ulong bit = 1UL << (port & 63);
        if ((Interlocked.Or(ref _loggedUnclaimed[port >> 6], bit) & bit) == 0)
            BusLog.UnclaimedPort(_logger, direction, port, size);
    }
}
