using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Vessel.Devices.Bus;

/// <summary>The 64 KiB x86 I/O port space. Devices own disjoint ranges (registered through
/// <see cref="BusRanges{TDevice}"/>, as on the MMIO bus) and see offsets inside them. Lookup is one table load;
/// registration is copy-on-write so dispatch takes no bus-wide lock.</summary>
public sealed class PortIoBus
{
    public const int PortCount = 0x10000;

    private delegate uint ReadPort(ushort offset, int size);
    private delegate void WritePort(ushort offset, int size, uint value);

    /// <summary>One claimed range, stored inline in the table. The device's two methods are bound once, as
    /// delegates: an interface call reads a dispatch cell and its cache, two more pages on every exit (under
    /// nested virtualization each costs a page walk).</summary>
    private readonly record struct Range(ushort Base, Lock? Gate, ReadPort Read, WritePort Write);

    private readonly BusRanges<IPortDevice> _registered;
    private readonly ILogger _logger;
    // Index + 1 into _ranges for every port; 0 = unclaimed.
    private readonly ushort[] _owner = new ushort[PortCount];
    private volatile Range[] _ranges = [];
    private readonly ulong[] _loggedUnclaimed = new ulong[PortCount / 64];

    public PortIoBus(DeviceLocks? deviceLocks = null, ILogger? logger = null)
    {
        _registered = new BusRanges<IPortDevice>("ports", deviceLocks ?? new DeviceLocks());
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Places <paramref name="device"/> over ports [<paramref name="basePort"/>, basePort+length).</summary>
    public void Register(ushort basePort, int length, IPortDevice device)
    {
        if (length <= 0 || basePort + length > PortCount)
            throw new BusRegistrationException($"port range 0x{basePort:x}+{length} is empty or beyond 0xffff");
        _registered.Add(basePort, (ulong)length, device, Publish);
    }

    private void Publish(int index, BusRanges<IPortDevice>.Entry entry)
    {
        var device = entry.Device;
        _ranges = [.. _ranges, new Range((ushort)entry.Base, entry.Gate, device.Read, device.Write)];
        for (ulong port = entry.Base; port <= entry.Last; port++)
            _owner[port] = (ushort)(index + 1);
    }

    /// <summary>The device that owns <paramref name="port"/>, if any.</summary>
    public IPortDevice? DeviceAt(ushort port)
    {
        int index = _owner[port];
        return index == 0 ? null : _registered.InOrder[index - 1].Device;
    }

    /// <summary>An IN of <paramref name="size"/> bytes (1, 2 or 4); all ones if no device owns the port.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Read(ushort port, int size)
    {
        if (TryRead(port, size, out uint value)) return value;
        LogUnclaimed(port, size, "read");
        return (uint)AccessSize.AllOnes(size);
    }

    /// <summary>An OUT of <paramref name="size"/> bytes; dropped if no device owns the port.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(ushort port, int size, uint value)
    {
        if (!TryWrite(port, size, value)) LogUnclaimed(port, size, "write");
    }

    /// <summary>An IN from the device that owns <paramref name="port"/>; false (and nothing logged) if none does,
    /// for a caller with somewhere else to send it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryRead(ushort port, int size, out uint value)
    {
        AccessSize.Validate(size, 4);
        int index = _owner[port];
        if (index == 0)
        {
            value = 0;
            return false;
        }
        uint mask = (uint)AccessSize.AllOnes(size);
        ref readonly Range range = ref _ranges[index - 1];
        ushort offset = (ushort)(port - range.Base);
        if (range.Gate is null)
        {
            value = range.Read(offset, size) & mask;
            return true;
        }
        lock (range.Gate)
            value = range.Read(offset, size) & mask;
        return true;
    }

    /// <summary>An OUT to the device that owns <paramref name="port"/>; false if none does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryWrite(ushort port, int size, uint value)
    {
        AccessSize.Validate(size, 4);
        int index = _owner[port];
        if (index == 0) return false;
        ref readonly Range range = ref _ranges[index - 1];
        ushort offset = (ushort)(port - range.Base);
        value &= (uint)AccessSize.AllOnes(size);
        if (range.Gate is null)
        {
            range.Write(offset, size, value);
            return true;
        }
        lock (range.Gate)
            range.Write(offset, size, value);
        return true;
    }

    private void LogUnclaimed(ushort port, int size, string direction)
    {
        if (!_logger.IsEnabled(LogLevel.Debug)) return;
        ulong bit = 1UL << (port & 63);
        if ((Interlocked.Or(ref _loggedUnclaimed[port >> 6], bit) & bit) == 0)
            BusLog.UnclaimedPort(_logger, direction, port, size);
    }
}
