using System.Globalization;
using System.Text;

namespace Vessel.Cli.Api;

/// <summary>PUT /logger's log: lines as Firecracker writes them ("2026-12-07T02:14:10.123456789Z
/// [anonymous-instance:fc_api] message", with the level and origin when asked), appended to a file or named pipe.
/// Thread-safe; a failed write is dropped rather than failing the request that logged it.</summary>
public sealed class ApiLog : IDisposable
{
    public enum Level { Off, Error, Warning, Info, Debug, Trace }

    private readonly Lock _lock = new();
    private readonly Stream _output;
    private readonly Level _level;
    private readonly bool _showLevel, _showOrigin;
    private readonly string _instanceId;

    private ApiLog(Stream output, Level level, bool showLevel, bool showOrigin, string instanceId)
    {
        _output = output;
        _level = level;
        _showLevel = showLevel;
        _showOrigin = showOrigin;
        _instanceId = instanceId;
    }

    public static Level ParseLevel(string text) => text.ToLowerInvariant() switch
    {
        "off" => Level.Off,
        "error" => Level.Error,
        "warning" or "warn" => Level.Warning,
        "info" => Level.Info,
        "debug" => Level.Debug,
        "trace" => Level.Trace,
        _ => throw VmResources.Fault($"level '{text}' is not one of Error, Warning, Info, Debug, Trace, Off"),
    };

    public static ApiLog Open(LoggerConfig config, string instanceId)
    {
        Stream output = config.LogPath is { } path ? OpenAppend("log_path", path) : Stream.Null;
        return new ApiLog(output, config.Level is null ? Level.Info : ParseLevel(config.Level),
            config.ShowLevel ?? false, config.ShowLogOrigin ?? false, instanceId);
    }

    /// <summary>Opens for appending, creating a missing file; a FIFO is opened without waiting for a reader
    /// (<see cref="AppendFile"/>).</summary>
    public static Stream OpenAppend(string field, string path) => AppendFile.Open(field, path);

    public void Write(Level level, string origin, string message)
    {
        if (level > _level || _level == Level.Off) return;
        var line = new StringBuilder(96);
        line.Append(DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture));
        line.Append(" [").Append(_instanceId).Append(':').Append(Thread.CurrentThread.Name ?? "vmm").Append("] ");
        if (_showLevel) line.Append(level.ToString().ToUpperInvariant()).Append(' ');
        if (_showOrigin) line.Append(origin).Append(' ');
        line.Append(message).Append('\n');
        byte[] bytes = Encoding.UTF8.GetBytes(line.ToString());
        lock (_lock)
        {
            try
            {
                _output.Write(bytes);
                _output.Flush();
            }
            catch (IOException)
            {
                // A log that cannot be written must not fail the VM or the request being logged.
            }
        }
    }

    public void Dispose()
    {
        lock (_lock) _output.Dispose();
    }
}
