using System.Text.Json;

namespace Vessel.Api.Tests;

public sealed class MetricsTests
{
    [Fact]
    public async Task FlushMetricsWritesAJsonLineCountingRequestsByRouteAndStatus()
    {
        using var vessel = new VesselProcess();
        string metrics = Path.Combine(vessel.Directory, "metrics.fifo-or-file");
        await vessel.Expect204("PUT", "/metrics", $$"""{"metrics_path": "{{metrics}}"}""");
        await GettingStartedTests.Configure(vessel, CounterGuest.Counter());
        Assert.Equal(400, (await vessel.Send("PUT", "/machine-config", """{"vcpu_count": 0, "mem_size_mib": 8}""")).Status);
        await vessel.Expect204("PUT", "/actions", """{"action_type": "InstanceStart"}""");
        await vessel.Expect204("PUT", "/actions", """{"action_type": "FlushMetrics"}""");
        string[] lines = File.ReadAllLines(metrics);
        Assert.Single(lines);
        var line = JsonDocument.Parse(lines[0]).RootElement;
        var api = line.GetProperty("api_server");
        Assert.Equal(1, api.GetProperty("PUT /machine-config 204").GetInt64());
        Assert.Equal(1, api.GetProperty("PUT /machine-config 400").GetInt64());
        Assert.Equal(1, api.GetProperty("PUT /actions 204").GetInt64()); // FlushMetrics counts itself after writing
        Assert.Equal("Running", line.GetProperty("vm").GetProperty("state").GetString());
        // A made-up path is counted as "unknown", not by its name.
        await vessel.Send("GET", "/made/up/path");
        await vessel.Expect204("PUT", "/actions", """{"action_type": "FlushMetrics"}""");
        var second = JsonDocument.Parse(File.ReadAllLines(metrics)[1]).RootElement.GetProperty("api_server");
        Assert.Equal(1, second.GetProperty("GET unknown 400").GetInt64());
    }
}
