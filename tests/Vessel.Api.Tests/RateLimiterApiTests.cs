using System.Text.Json;
using Vessel.Cli.Api;
using Vessel.Cli.Tests;

namespace Vessel.Api.Tests;

/// <summary>Firecracker's rate_limiter, rx_rate_limiter and tx_rate_limiter: accepted on drives, network interfaces
/// and entropy, shown back by GET /vm/config as Firecracker shows its live limiters (buckets of size 0 and bursts
/// of 0 absent), PATCHed on a running VM, and refused with the field named when a value is wrong. (The devices'
/// throttling is in Vessel.Virtio.Tests' RateLimitTests.)</summary>
public sealed class RateLimiterApiTests
{
    private static JsonElement Config(string json) => JsonDocument.Parse(json).RootElement;

    [Fact]
    public async Task LimitersArePutEchoedAndPatchedOnARunningVm()
    {
        using var vessel = new VesselProcess();
        await GettingStartedTests.Configure(vessel, CounterGuest.Counter());
        string rootfs = Path.Combine(vessel.Directory, "rootfs.img");
        await vessel.Expect204("PUT", "/drives/rootfs", $$$$"""
            {"drive_id": "rootfs", "path_on_host": "{{{{rootfs}}}}", "is_root_device": true,
             "rate_limiter": {"bandwidth": {"size": 1048576, "one_time_burst": 0, "refill_time": 1000},
                              "ops": {"size": 0, "refill_time": 100}}}
            """);
        await vessel.Expect204("PUT", "/network-interfaces/eth0", """
            {"iface_id": "eth0", "host_dev_name": "user:",
             "rx_rate_limiter": {"ops": {"size": 100, "one_time_burst": 50, "refill_time": 1000}}}
            """);
        await vessel.Expect204("PUT", "/entropy", """{"rate_limiter": {"bandwidth": {"size": 4096, "refill_time": 10}}}""");

        var config = Config(await vessel.Get("/vm/config"));
        Assert.Equal("""{"bandwidth":{"size":1048576,"refill_time":1000}}""",
            config.GetProperty("drives")[0].GetProperty("rate_limiter").GetRawText());
        var iface = config.GetProperty("network-interfaces")[0];
        Assert.Equal("""{"ops":{"size":100,"one_time_burst":50,"refill_time":1000}}""", iface.GetProperty("rx_rate_limiter").GetRawText());
        Assert.False(iface.TryGetProperty("tx_rate_limiter", out _));
        Assert.Equal("""{"bandwidth":{"size":4096,"refill_time":10}}""", config.GetProperty("entropy").GetProperty("rate_limiter").GetRawText());

        await vessel.Expect204("PUT", "/actions", """{"action_type": "InstanceStart"}""");
        Assert.True(vessel.WaitForOutput(o => o.Length >= 20, TimeSpan.FromSeconds(30)), vessel.Error);

        // A bucket named replaces, size 0 removes, one left out stays.
        await vessel.Expect204("PATCH", "/drives/rootfs", """{"drive_id": "rootfs", "rate_limiter": {"ops": {"size": 10, "refill_time": 100}}}""");
        await vessel.Expect204("PATCH", "/network-interfaces/eth0", """
            {"iface_id": "eth0", "rx_rate_limiter": {"ops": {"size": 0, "refill_time": 0}},
             "tx_rate_limiter": {"bandwidth": {"size": 125000, "refill_time": 100}}}
            """);
        config = Config(await vessel.Get("/vm/config"));
        Assert.Equal("""{"bandwidth":{"size":1048576,"refill_time":1000},"ops":{"size":10,"refill_time":100}}""",
            config.GetProperty("drives")[0].GetProperty("rate_limiter").GetRawText());
        iface = config.GetProperty("network-interfaces")[0];
        Assert.False(iface.TryGetProperty("rx_rate_limiter", out _));
        Assert.Equal("""{"bandwidth":{"size":125000,"refill_time":100}}""", iface.GetProperty("tx_rate_limiter").GetRawText());

        // Wrong values on the running VM: 400 naming the field, and nothing changes.
        string before = await vessel.Get("/vm/config");
        foreach (var (path, body, expected) in new[]
        {
            ("/drives/rootfs", """{"drive_id": "rootfs", "rate_limiter": {"ops": {"size": -1, "refill_time": 100}}}""", "$.rate_limiter.ops.size"),
            ("/drives/rootfs", """{"drive_id": "rootfs", "rate_limiter": {"ops": {"size": 1}}}""", "refill_time"),
            ("/network-interfaces/eth0", """{"iface_id": "eth0", "tx_rate_limiter": {"bandwidth": {"size": 1, "refill_time": 1}, "iops": {}}}""", "iops"),
            ("/network-interfaces/eth0", """{"iface_id": "eth0", "rx_rate_limiter": {"ops": {"size": 1, "refill_time": "fast"}}}""", "$.rx_rate_limiter.ops.refill_time"),
        })
        {
            var (status, response) = await vessel.Send("PATCH", path, body);
            Assert.Equal(400, status);
            Assert.Contains(expected, VesselProcess.FaultOf(response));
        }
        Assert.Equal(before, await vessel.Get("/vm/config"));
        Assert.Equal(400, (await vessel.Send("PUT", "/entropy", """{"rate_limiter": {}}""")).Status); // pre-boot only
        Assert.True(CounterGuest.IsCounting(vessel.Output, out _));
    }

    [Fact]
    public void AConfigFileWithLimitersBootsAndShowsThem()
    {
        using var kernel = new TempFile(CounterGuest.PrintThenExit("limited\n", 1));
        using var disk = new TempFile(new byte[1 << 20]);
        using var config = new TempFile(System.Text.Encoding.UTF8.GetBytes($$$$"""
            {"boot-source": {"kernel_image_path": "{{{{kernel.Path}}}}"},
             "drives": [{"drive_id": "d", "path_on_host": "{{{{disk.Path}}}}", "is_root_device": false,
                         "rate_limiter": {"bandwidth": {"size": 1024, "refill_time": 1}}}],
             "entropy": {"rate_limiter": {"ops": {"size": 1, "refill_time": 1}}},
             "machine-config": {"vcpu_count": 1, "mem_size_mib": 32}}
            """));
        var resources = ApiCommand.LoadConfigFile(config.Path);
        Assert.Equal(1024UL, resources.Drives[0].RateLimiter!.Bandwidth!.Size);
        using var vessel = new VesselProcess("--config-file", config.Path, "--no-api");
        Assert.Equal((1 << 1) | 1, vessel.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal("limited\n", vessel.Output);
    }

    [Fact]
    public void AConfigFileWithAWrongLimiterIsOneErrorNamingTheField()
    {
        using var config = new TempFile(System.Text.Encoding.UTF8.GetBytes(
            """{"entropy": {"rate_limiter": {"bandwidth": {"size": 18446744073709551616, "refill_time": 1}}}}"""));
        var result = CliRunner.Run("--config-file", config.Path, "--no-api", "--backend", "emu");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("$.entropy.rate_limiter.bandwidth.size", result.Stderr);
    }
}
