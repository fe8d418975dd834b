using Microsoft.Extensions.Logging;

namespace Vessel.Devices.Tests.Bus;

public sealed class CapturingLogger(LogLevel minimum = LogLevel.Trace) : ILogger
{
    public List<(LogLevel Level, string Message)> Entries { get; } = [];

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
            lock (Entries) Entries.Add((logLevel, formatter(state, exception)));
    }
}
