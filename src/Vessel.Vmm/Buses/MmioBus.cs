using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Vessel.Devices;

namespace Vessel.Vmm.Buses;

/// <summary>Guest-physical MMIO ranges. A sorted array searched by binary search; registration is
/// copy-on-write so dispatch takes no bus-wide lock.</summary>
public sealed class MmioBus
{
    /// <summary>A guest may touch any number of distinct unbacked addresses; remember at most this many.</summary>
    public const int MaxLoggedUnclaimed = 1024;

    private sealed record Range(ulong Base, ulong Length, IMmioDevice Device, Lock? Gate)
    {
        public ulong Last => Base + (Length - 1);
    }

    private readonly Lock _registrationLock = new();
    private readonly DeviceLocks _deviceLocks;
    private readonly ILogger _logger;
    private volatile Range[] _ranges = [];
    private readonly ConcurrentDictionary<ulong, byte> _loggedUnclaimed = new();

    public MmioBus(DeviceLocks? deviceLocks = null, ILogger? logger = null)
    {
        _deviceLocks = deviceLocks ?? new DeviceLocks();
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Places <paramref name="device"/> over [<paramref name="baseAddress"/>, baseAddress+length).</summary>
    public void Register(ulong baseAddress, ulong length, IMmioDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (length == 0 || baseAddress + (length - 1) < baseAddress)
            throw new BusRegistrationException($"MMIO range 0x{baseAddress:x}+0x{length:x} is empty or wraps around");
        var range = new Range(baseAddress, length, device, _deviceLocks.For(device));
        lock (_registrationLock)
        {
            foreach (var other in _ranges)
                if (range.Base <= other.Last && other.Base <= range.Last)
                    throw new BusRegistrationException(
                        $"MMIO 0x{range.Base:x}-0x{range.Last:x} ({device.GetType().Name}) overlaps " +
                        $"0x{other.Base:x}-0x{other.Last:x} ({other.Device.GetType().Name})");
            Range[] ranges = [.. _ranges, range];
            Array.Sort(ranges, static (a, b) => a.Base.CompareTo(b.Base));
            _ranges = ranges;
        }
    }

    public IMmioDevice? DeviceAt(ulong address) => Find(_ranges, address)?.Device;

    /// <summary>A read of <paramref name="size"/> bytes (1, 2, 4 or 8); all ones if no device claims it.</summary>
    public ulong Read(ulong address, int size)
    {
        AccessSize.Validate(size, 8);
        var range = Find(_ranges, address);
        if (range is null)
        {
            LogUnclaimed(address, size, "read");
            return AccessSize.AllOnes(size);
        }
        if (range.Gate is null) return range.Device.Read(address - range.Base, size) & AccessSize.AllOnes(size);
        lock (range.Gate)
            return range.Device.Read(address - range.Base, size) & AccessSize.AllOnes(size);
    }

    /// <summary>A write of <paramref name="size"/> bytes; dropped if no device claims the address.</summary>
    public void Write(ulong address, int size, ulong value)
    {
        AccessSize.Validate(size, 8);
        var range = Find(_ranges, address);
        if (range is null)
        {
            LogUnclaimed(address, size, "write");
            return;
        }
        value &= AccessSize.AllOnes(size);
        if (range.Gate is null)
        {
            range.Device.Write(address - range.Base, size, value);
            return;
        }
        lock (range.Gate)
            range.Device.Write(address - range.Base, size, value);
    }

    private static Range? Find(Range[] ranges, ulong address)
    {
        int lo = 0, hi = ranges.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            var r = ranges[mid];
            if (address < r.Base) hi = mid - 1;
            else if (address > r.Last) lo = mid + 1;
            else return r;
        }
        return null;
    }

    private void LogUnclaimed(ulong address, int size, string direction)
    {
        if (!_logger.IsEnabled(LogLevel.Debug) || _loggedUnclaimed.Count > MaxLoggedUnclaimed) return;
        if (!_loggedUnclaimed.TryAdd(address, 0)) return;
        if (_loggedUnclaimed.Count > MaxLoggedUnclaimed)
            BusLog.UnclaimedMmioLimit(_logger, MaxLoggedUnclaimed);
        else
            BusLog.UnclaimedMmio(_logger, direction, address, size);
    }
}
