using System.Diagnostics;

namespace Vessel.Api.Tests;

/// <summary>PUT /logger and PUT /metrics on a named pipe, as Firecracker's users give them: the request must not wait
/// for a reader, a full pipe must not hold up a flush, and a reader opened later gets the lines.</summary>
public sealed class NamedPipeTests
{
    [Fact]
    public async Task MetricsAndLoggerOnAFifoWithNoReaderYetDoNotBlockAndReachALaterReader()
    {
        using var vessel = new VesselProcess();
        string metrics = Path.Combine(vessel.Directory, "metrics.fifo");
        string log = Path.Combine(vessel.Directory, "log.fifo");
        MakeFifo(metrics);
        MakeFifo(log);
        var put = Task.WhenAll(
            vessel.Expect204("PUT", "/metrics", $$"""{"metrics_path": "{{metrics}}"}"""),
            vessel.Expect204("PUT", "/logger", $$"""{"log_path": "{{log}}", "level": "Info"}"""));
        await put.WaitAsync(TimeSpan.FromSeconds(10)); // TimeoutException: a request waited for a reader of its FIFO

        // With no reader the pipe fills (64 KiB) and then refuses lines: each flush still answers at once.
        for (int i = 0; i < 1000; i++) // about 150 bytes a line before boot
            await vessel.Expect204("PUT", "/actions", """{"action_type": "FlushMetrics"}""").WaitAsync(TimeSpan.FromSeconds(10));

        using var reader = new FileStream(metrics, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
        await vessel.Expect204("PUT", "/actions", """{"action_type": "FlushMetrics"}""");
        var buffer = new byte[4096];
        int read = await reader.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.StartsWith("{\"utc_timestamp_ms\":", System.Text.Encoding.UTF8.GetString(buffer, 0, read));
    }

    private static void MakeFifo(string path)
    {
        using var mkfifo = Process.Start("mkfifo", path);
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
    }
}
