using System.Text.Json;
using Vessel.Cli.Api;
using Vessel.Virtio.Net;

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
        Assert.Equal(0, disk.GetProperty("rate_limiter_throttled_events").GetInt64());
    }

    [Fact]
    public async Task MetricsNameEachNetworkInterfaceByItsIfaceId()
    {
        using var vessel = new VesselProcess();
        string metrics = Path.Combine(vessel.Directory, "metrics.json");
        await vessel.Expect204("PUT", "/metrics", $$"""{"metrics_path": "{{metrics}}"}""");
        await GettingStartedTests.Configure(vessel, CounterGuest.Counter());
        await vessel.Expect204("PUT", "/network-interfaces/uplink", """{"iface_id": "uplink", "host_dev_name": "user:"}""");
        await vessel.Expect204("PUT", "/network-interfaces/eth1", """{"iface_id": "eth1", "host_dev_name": "user:", "guest_mac": "06:00:ac:10:00:09"}""");
        await vessel.Expect204("PUT", "/actions", """{"action_type": "InstanceStart"}""");
        Assert.True(vessel.WaitForOutput(o => o.Length >= 20, TimeSpan.FromSeconds(30)), vessel.Error);
        await vessel.Expect204("PUT", "/actions", """{"action_type": "FlushMetrics"}""");
        var line = JsonDocument.Parse(File.ReadAllLines(metrics)[^1]).RootElement;

        // This guest has no virtio-net driver: no frame moves either way (the writer's sums are tested below).
        foreach (string name in new[] { "net", "net_uplink", "net_eth1" })
            foreach (string counter in new[] { "rx_bytes_count", "rx_packets_count", "tx_bytes_count", "tx_packets_count", "tx_fails" })
                Assert.Equal(0, line.GetProperty(name).GetProperty(counter).GetInt64());
        Assert.False(line.TryGetProperty("net_0", out _));
    }

    [Fact]
    public void NetCountersGoUnderFirecrackersNamesPerInterfaceAndSummed()
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            NetMetrics.Write(json, [
                ("eth0", new NetStatistics(ReceivedFrames: 3, ReceivedBytes: 300, TransmittedFrames: 5, TransmittedBytes: 500,
                    ReceiveDrops: 7, ReceiveOverruns: 4, TransmitDrops: 2)),
                ("eth1", new NetStatistics(10, 1000, 20, 2000, 1, 1, 0)),
            ], [(1, 2), (30, 0)]);
            json.WriteEndObject();
        }
        var line = JsonDocument.Parse(buffer.ToArray()).RootElement;
        var eth0 = line.GetProperty("net_eth0");
        Assert.Equal(3, eth0.GetProperty("rx_packets_count").GetInt64());
        Assert.Equal(300, eth0.GetProperty("rx_bytes_count").GetInt64());
        Assert.Equal(5, eth0.GetProperty("tx_packets_count").GetInt64());
        Assert.Equal(500, eth0.GetProperty("tx_bytes_count").GetInt64());
        Assert.Equal(4, eth0.GetProperty("no_rx_avail_buffer").GetInt64());
        Assert.Equal(3, eth0.GetProperty("rx_fails").GetInt64()); // drops that were not for want of a buffer
        Assert.Equal(2, eth0.GetProperty("tx_fails").GetInt64());
        Assert.Equal(1, eth0.GetProperty("rx_rate_limiter_throttled").GetInt64());
        Assert.Equal(2, eth0.GetProperty("tx_rate_limiter_throttled").GetInt64());
        Assert.Equal(31, line.GetProperty("net").GetProperty("rx_rate_limiter_throttled").GetInt64());
        var net = line.GetProperty("net");
        Assert.Equal(13, net.GetProperty("rx_packets_count").GetInt64());
        Assert.Equal(2500, net.GetProperty("tx_bytes_count").GetInt64());
        Assert.Equal(5, net.GetProperty("no_rx_avail_buffer").GetInt64());
        Assert.Equal(3, net.GetProperty("rx_fails").GetInt64());
        Assert.Equal(1, line.GetProperty("net_eth1").GetProperty("no_rx_avail_buffer").GetInt64());
    }
}
