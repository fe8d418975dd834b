using Microsoft.Extensions.Logging;

namespace Vessel.Vmm.Pci;

/// <summary>hvc0's output into a host stream (on the console device's worker thread). As with COM1, a console
/// that went away is logged once and later output dropped; the guest never notices.</summary>
internal sealed partial class ConsoleOutputSink(Stream? output, ILogger logger)
{
    private volatile bool _broken = output is null;

    public void Write(ReadOnlySpan<byte> data)
    {
        if (_broken) return;
        try
        {
            output!.Write(data);
            output.Flush();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or NotSupportedException)
        {
            _broken = true;
            LogBroken(logger, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "hvc0 output failed ({Reason}); further guest output is dropped")]
    private static partial void LogBroken(ILogger logger, string reason);
}
