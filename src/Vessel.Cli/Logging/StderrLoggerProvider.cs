using Microsoft.Extensions.Logging;

namespace Vessel.Cli.Logging;

/// <summary>Log lines "vessel: level: message" on stderr, so they never mix with the guest console on stdout.
/// Synchronous: a line is on the terminal before the next guest byte.</summary>
public sealed class StderrLoggerProvider(TextWriter error, LogLevel minimum) : ILoggerProvider, ILoggerFactory
{
    private readonly Lock _writeLock = new();

    public ILogger CreateLogger(string categoryName) => new StderrLogger(this);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    public void Dispose() { }

    private void Write(LogLevel level, string message, Exception? exception)
    {
        string name = level switch
        {
            LogLevel.Critical or LogLevel.Error => "error",
            LogLevel.Warning => "warning",
            LogLevel.Information => "info",
            LogLevel.Debug => "debug",
            _ => "trace",
        };
        lock (_writeLock)
        {
            error.Write($"vessel: {name}: {message}\n");
            if (exception is not null && minimum <= LogLevel.Debug) error.Write($"{exception}\n");
            error.Flush();
        }
    }

    private sealed class StderrLogger(StderrLoggerProvider provider) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None && logLevel >= provider.Minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) provider.Write(logLevel, formatter(state, exception), exception);
        }
    }

    private LogLevel Minimum => minimum;
}
