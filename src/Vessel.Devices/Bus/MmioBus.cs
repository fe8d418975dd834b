using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Vessel.Devices.Bus;

/// <summary>Guest-physical MMIO ranges, registered through <see cref="BusRanges{TDevice}"/> and found by binary
/// search; dispatch takes no bus-wide lock.</summary>
public sealed class MmioBus
{
    /// <summary>A guest may touch any number of distinct unbacked addresses; remember at most this many.</summary>
    public const int MaxLoggedUnclaimed = 1024;

    private readonly BusRanges<IMmioDevice> _ranges;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<ulong, byte> _loggedUnclaimed = new();

    public MmioBus(DeviceLocks? deviceLocks = null, ILogger? logger = null)
    {
        _ranges = new BusRanges<IMmioDevice>("MMIO", deviceLocks ?? new DeviceLocks());
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Places <paramref name="device"/> over [<paramref name="baseAddress"/>, baseAddress+length).</summary>
    public void Register(ulong baseAddress, ulong length, IMmioDevice device) => _ranges.Add(baseAddress, length, device);

    public IMmioDevice? DeviceAt(ulong address) => _ranges.Find(address)?.Device;

    /// <summary>A read of <paramref name="size"/> bytes (1, 2, 4 or 8); all ones if no device claims it.</summary>
    public ulong Read(ulong address, int size)
    {
        if (TryRead(address, size, out ulong value)) return value;
        LogUnclaimed(address, size, "read");
        return AccessSize.AllOnes(size);
    }

    /// <summary>A write of <paramref name="size"/> bytes; dropped if no device claims the address.</summary>
    public void Write(ulong address, int size, ulong value)
    {
        if (!TryWrite(address, size, value)) LogUnclaimed(address, size, "write");
    }

    /// <summary>A read by the device that claims <paramref name="address"/>; false (and nothing logged) if none
    /// does, for a caller with somewhere else to send it.</summary>
    public bool TryRead(ulong address, int size, out ulong value)
    {
        AccessSize.Validate(size, 8);
        var range = _ranges.Find(address);
        if (range is null)
        {
            value = 0;
            return false;
        }
        if (range.Gate is null)
        {
            value = range.Device.Read(address - range.Base, size) & AccessSize.AllOnes(size);
            return true;
        }
        lock (range.Gate)
            value = range.Device.Read(address - range.Base, size) & AccessSize.AllOnes(size);
        return true;
    }

    /// <summary>A write to the device that claims <paramref name="address"/>; false if none does.</summary>
    public bool TryWrite(ulong address, int size, ulong value)
    {
        AccessSize.Validate(size, 8);
        var range = _ranges.Find(address);
        if (range is null) return false;
        value &= AccessSize.AllOnes(size);
        if (range.Gate is null)
        {
            range.Device.Write(address - range.Base, size, value);
            return true;
        }
        lock (range.Gate)
            range.Device.Write(address - range.Base, size, value);
        return true;
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
