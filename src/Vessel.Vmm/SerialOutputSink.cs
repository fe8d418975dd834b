using Microsoft.Extensions.Logging;

namespace Vessel.Vmm;

/// <summary>COM1's transmitter into a host stream. A console that went away (closed pipe) must not crash the
/// vCPU that printed: the first failure is logged and later output is dropped.</summary>
internal sealed partial class SerialOutputSink(Stream? output, ILogger logger)
{
    private volatile bool _broken = output is null;

    public void Transmit(byte value)
    {
        if (_broken) return;
        try
        {
            output!.WriteByte(value);
            output.Flush();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or NotSupportedException)
        {
            _broken = true;
            LogBroken(logger, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "serial output failed ({Reason}); further guest output is dropped")]
    private static partial void LogBroken(ILogger logger, string reason);
}
