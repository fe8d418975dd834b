using System.Text.Json;

namespace Vessel.Api.Tests;

/// <summary>PATCH /drives/{id} with a new path_on_host on a running VM swaps the disk's backing file
/// (the device side, capacity and config interrupt, is in Vessel.Virtio.Tests' BlockTests).</summary>
public sealed class DriveSwapTests
{
    [Fact]
    public async Task PatchingARunningDriveOpensTheNewFileClosesTheOldAndShowsInTheConfig()
    {
        using var vessel = new VesselProcess();
        await GettingStartedTests.Configure(vessel, CounterGuest.Counter());
        string oldPath = Path.Combine(vessel.Directory, "rootfs.img");
        string newPath = vessel.File("rootfs2.img", new byte[2 << 20]);
        await vessel.Expect204("PUT", "/actions", """{"action_type": "InstanceStart"}""");
        Assert.True(vessel.WaitForOutput(o => o.Length >= 20, TimeSpan.FromSeconds(30)), vessel.Error);
        Assert.True(OpenByThisProcess(oldPath));
        Assert.False(OpenByThisProcess(newPath));

        string before = await vessel.Get("/vm/config");
        foreach (var (body, expected) in new[]
        {
            ("""{"drive_id": "rootfs", "path_on_host": "/nonexistent/disk.img"}""", "/nonexistent/disk.img: no such file (path_on_host)"),
            ("""{"drive_id": "other", "path_on_host": "/tmp"}""", "does not match the id in the path"),
            ("""{"drive_id": "rootfs", "rate_limiter": {"bandwidth": {"size": "1", "refill_time": 1}}}""", "rate_limiter.bandwidth.size"),
        })
        {
            var (status, response) = await vessel.Send("PATCH", "/drives/rootfs", body);
            Assert.Equal(400, status);
            Assert.Contains(expected, VesselProcess.FaultOf(response));
        }
        Assert.Equal(before, await vessel.Get("/vm/config"));

        await vessel.Expect204("PATCH", "/drives/rootfs", $$"""{"drive_id": "rootfs", "path_on_host": "{{newPath}}"}""");
        Assert.True(OpenByThisProcess(newPath));
        Assert.False(OpenByThisProcess(oldPath));
        var drive = JsonDocument.Parse(await vessel.Get("/vm/config")).RootElement.GetProperty("drives")[0];
        Assert.Equal(newPath, drive.GetProperty("path_on_host").GetString());
        Assert.True(drive.GetProperty("is_root_device").GetBoolean());

        // Paused too, and back.
        await vessel.Expect204("PATCH", "/vm", """{"state": "Paused"}""");
        await vessel.Expect204("PATCH", "/drives/rootfs", $$"""{"drive_id": "rootfs", "path_on_host": "{{oldPath}}"}""");
        await vessel.Expect204("PATCH", "/vm", """{"state": "Resumed"}""");
        Assert.True(OpenByThisProcess(oldPath));
        Assert.False(OpenByThisProcess(newPath));
        Assert.True(CounterGuest.IsCounting(vessel.Output, out _));
    }

    private static bool OpenByThisProcess(string path) =>
        Directory.EnumerateFiles("/proc/self/fd").Any(fd =>
        {
            try
            {
                return new FileInfo(fd).LinkTarget == path;
            }
            catch (IOException)
            {
                return false; // closed between the listing and the look
            }
        });
}
