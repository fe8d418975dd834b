using Microsoft.Extensions.Logging;

namespace Vessel.Devices.Bus;

internal static partial class BusLog
{
    [LoggerMessage(Level = LogLevel.Debug, Message = "unclaimed port {Direction} 0x{Port:x4} size {Size} (logged once per port)")]
    public static partial void UnclaimedPort(ILogger logger, string direction, ushort port, int size);

    [LoggerMessage(Level = LogLevel.Debug, Message = "unclaimed MMIO {Direction} 0x{Address:x} size {Size} (logged once per address)")]
    public static partial void UnclaimedMmio(ILogger logger, string direction, ulong address, int size);

    [LoggerMessage(Level = LogLevel.Debug, Message = "more than {Limit} distinct unclaimed MMIO addresses; no longer logging them")]
    public static partial void UnclaimedMmioLimit(ILogger logger, int limit);
}
