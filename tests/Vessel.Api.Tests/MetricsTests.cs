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

    [Fact]
    public async Task MetricsCountEachVcpusExitsByReasonItsCpuTimeAndEachDisk()
    {
        using var vessel = new VesselProcess();
        string metrics = Path.Combine(vessel.Directory, "metrics.json");
        await vessel.Expect204("PUT", "/metrics", $$"""{"metrics_path": "{{metrics}}"}""");
        await GettingStartedTests.Configure(vessel, CounterGuest.OutsThenSpin(1000));
        await vessel.Expect204("PUT", "/actions", """{"action_type": "InstanceStart"}""");
        JsonElement line = default;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        do
        {
            Thread.Sleep(100);
            await vessel.Expect204("PUT", "/actions", """{"action_type": "FlushMetrics"}""");
            line = JsonDocument.Parse(File.ReadAllLines(metrics)[^1]).RootElement;
        }
        while (line.GetProperty("vcpu_0").GetProperty("exit_io_out").GetInt64() < 1000 && DateTime.UtcNow < deadline);
        Thread.Sleep(300); // spinning now: no exit may follow the thousandth
        await vessel.Expect204("PUT", "/actions", """{"action_type": "FlushMetrics"}""");
        line = JsonDocument.Parse(File.ReadAllLines(metrics)[^1]).RootElement;

        var vcpu = line.GetProperty("vcpu_0");
        Assert.Equal(1000, vcpu.GetProperty("exit_io_out").GetInt64());
        Assert.Equal(0, vcpu.GetProperty("exit_halt").GetInt64());
        Assert.Equal(0, vcpu.GetProperty("exit_mmio_write").GetInt64());
        Assert.True(vcpu.GetProperty("cpu_time_ms").GetInt64() >= 0);
        Assert.Equal(1000, line.GetProperty("vcpu").GetProperty("exit_io_out").GetInt64());
        // The root drive, never touched by this guest (BlockTests counts real requests).
        var disk = line.GetProperty("block_rootfs");
        Assert.Equal(0, disk.GetProperty("read_bytes").GetInt64());
        Assert.Equal(0, line.GetProperty("block").GetProperty("write_count").GetInt64());
    }
}
