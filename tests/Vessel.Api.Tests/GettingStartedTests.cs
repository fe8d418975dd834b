using System.Text.Json;
using Vessel.Cli.Api;

namespace Vessel.Api.Tests;

/// <summary>A real VM driven through the socket in the request order of Firecracker's getting-started guide:
/// logger, boot-source, drives/rootfs, machine-config, InstanceStart.</summary>
public sealed class GettingStartedTests
{
    internal static async Task Configure(VesselProcess vessel, byte[] kernel, string? logPath = null)
    {
        string kernelPath = vessel.File("kernel.elf", kernel);
        string rootfs = vessel.File("rootfs.img", new byte[1 << 20]);
        logPath ??= Path.Combine(vessel.Directory, "vessel.log");
        await vessel.Expect204("PUT", "/logger", $$"""{"log_path": "{{logPath}}", "level": "Debug", "show_level": true, "show_log_origin": true}""");
        await vessel.Expect204("PUT", "/boot-source", $$"""{"kernel_image_path": "{{kernelPath}}", "boot_args": "console=ttyS0"}""");
        await vessel.Expect204("PUT", "/drives/rootfs", $$"""{"drive_id": "rootfs", "path_on_host": "{{rootfs}}", "is_root_device": true, "is_read_only": false}""");
        await vessel.Expect204("PUT", "/machine-config", """{"vcpu_count": 1, "mem_size_mib": 64}""");
    }

    [Fact]
    public async Task GuideSequenceBootsTheGuestAndRefusesPreBootResourcesAfterwards()
    {
        using var vessel = new VesselProcess();
        var info = JsonDocument.Parse(await vessel.Get("/")).RootElement;
        Assert.Equal("Not started", info.GetProperty("state").GetString());
        Assert.Equal(400, (await vessel.Send("PATCH", "/vm", """{"state": "Paused"}""")).Status);

        await Configure(vessel, CounterGuest.Counter());
        await vessel.Expect204("PUT", "/actions", """{"action_type": "InstanceStart"}""");
        Assert.True(vessel.WaitForOutput(o => o.Length >= 40, TimeSpan.FromSeconds(30)), $"no guest output: {vessel.Error}");
        Assert.True(CounterGuest.IsCounting(vessel.Output, out _), vessel.Output);
        Assert.Equal("Running", JsonDocument.Parse(await vessel.Get("/")).RootElement.GetProperty("state").GetString());

        string config = await vessel.Get("/vm/config");
        var root = JsonDocument.Parse(config).RootElement;
        Assert.Equal("rootfs", root.GetProperty("drives")[0].GetProperty("drive_id").GetString());
        Assert.Equal(64, root.GetProperty("machine-config").GetProperty("mem_size_mib").GetInt32());

        foreach (var (method, path, body) in new[]
        {
            ("PUT", "/boot-source", $$"""{"kernel_image_path": "{{Path.Combine(vessel.Directory, "kernel.elf")}}"}"""),
            ("PUT", "/machine-config", """{"vcpu_count": 2, "mem_size_mib": 64}"""),
            ("PATCH", "/machine-config", """{"vcpu_count": 2}"""),
            ("PUT", "/drives/extra", $$"""{"drive_id": "extra", "path_on_host": "{{Path.Combine(vessel.Directory, "rootfs.img")}}", "is_root_device": false}"""),
            ("PUT", "/actions", """{"action_type": "InstanceStart"}"""),
        })
        {
            var (status, response) = await vessel.Send(method, path, body);
            Assert.Equal(400, status);
            Assert.Equal(VmmController.NotSupportedAfterStart, VesselProcess.FaultOf(response));
        }
        Assert.Equal(config, await vessel.Get("/vm/config"));

        string log = File.ReadAllText(Path.Combine(vessel.Directory, "vessel.log"));
        Assert.Contains("INFO api The API server received a PUT request on \"/boot-source\": 204", log);
        Assert.Contains("Successfully started microvm", log);
    }

    [Fact]
    public async Task InstanceStartWithoutBootSourceIsRefusedAndNothingStarts()
    {
        using var vessel = new VesselProcess();
        var (status, body) = await vessel.Send("PUT", "/actions", """{"action_type": "InstanceStart"}""");
        Assert.Equal(400, status);
        Assert.Contains("boot-source", VesselProcess.FaultOf(body));
        Assert.Equal("Not started", JsonDocument.Parse(await vessel.Get("/")).RootElement.GetProperty("state").GetString());
    }

    [Fact]
    public async Task GuestExitEndsVesselWithItsStatus()
    {
        using var vessel = new VesselProcess();
        string kernel = vessel.File("kernel.elf", CounterGuest.PrintThenExit("bye\n", 3));
        await vessel.Expect204("PUT", "/boot-source", $$"""{"kernel_image_path": "{{kernel}}"}""");
        await vessel.Expect204("PUT", "/actions", """{"action_type": "InstanceStart"}""");
        Assert.Equal((3 << 1) | 1, vessel.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal("bye\n", vessel.Output);
        Assert.False(File.Exists(vessel.SocketPath));
    }
}
