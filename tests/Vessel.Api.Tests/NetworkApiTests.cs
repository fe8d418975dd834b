using System.Text.Json;
using Vessel.Cli.Api;

namespace Vessel.Api.Tests;

/// <summary>PUT /network-interfaces/{id} and PUT /vsock build the devices `--net` and `--vsock` build.</summary>
public sealed class NetworkApiTests
{
    [Fact]
    public async Task UserNetworkAndVsockArePresentWhileTheVmRuns()
    {
        string uds;
        using (var vessel = new VesselProcess())
        {
            uds = Path.Combine(vessel.Directory, "v.sock");
            await GettingStartedTests.Configure(vessel, CounterGuest.Counter());
            await vessel.Expect204("PUT", "/network-interfaces/eth0", """{"iface_id": "eth0", "host_dev_name": "user:", "guest_mac": "06:00:ac:10:00:02"}""");
            var (patchStatus, patchBody) = await vessel.Send("PATCH", "/network-interfaces/eth0", """{"iface_id": "eth0"}""");
            Assert.Equal(400, patchStatus);
            Assert.Equal(VmmController.NotSupportedBeforeStart, VesselProcess.FaultOf(patchBody));
            await vessel.Expect204("PUT", "/vsock", $$"""{"guest_cid": 3, "uds_path": "{{uds}}"}""");
            Assert.False(File.Exists(uds));
            await vessel.Expect204("PUT", "/actions", """{"action_type": "InstanceStart"}""");
            Assert.True(vessel.WaitForOutput(o => o.Length >= 20, TimeSpan.FromSeconds(30)), vessel.Error);
            await vessel.Expect204("PATCH", "/network-interfaces/eth0", """{"iface_id": "eth0"}""");
            var (missingStatus, missingBody) = await vessel.Send("PATCH", "/network-interfaces/eth9", """{"iface_id": "eth9"}""");
            Assert.Equal(400, missingStatus);
            Assert.Contains("no such network interface", VesselProcess.FaultOf(missingBody));

            // The vsock device listens on uds_path (a socket a host program can connect to) while the VM runs.
            Assert.True((File.GetAttributes(uds) & FileAttributes.Directory) == 0);
            using (var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified))
                socket.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(uds));

            var config = JsonDocument.Parse(await vessel.Get("/vm/config")).RootElement;
            var iface = Assert.Single(config.GetProperty("network-interfaces").EnumerateArray());
            Assert.Equal("user:", iface.GetProperty("host_dev_name").GetString());
            Assert.Equal("06:00:ac:10:00:02", iface.GetProperty("guest_mac").GetString());
            Assert.Equal(3, config.GetProperty("vsock").GetProperty("guest_cid").GetInt32());

            var (status, body) = await vessel.Send("PUT", "/network-interfaces/eth1", """{"iface_id": "eth1", "host_dev_name": "user:"}""");
            Assert.Equal(400, status);
            Assert.Equal(VmmController.NotSupportedAfterStart, VesselProcess.FaultOf(body));
            Assert.Equal(400, (await vessel.Send("PUT", "/vsock", $$"""{"guest_cid": 4, "uds_path": "{{uds}}x"}""")).Status);
            Assert.True(CounterGuest.IsCounting(vessel.Output, out _));
        }
        Assert.False(File.Exists(uds), "the vsock socket outlived the VM");
    }

    [Fact]
    public async Task AMissingTapIsRefusedAtStartWithNothingStarted()
    {
        using var vessel = new VesselProcess();
        await GettingStartedTests.Configure(vessel, CounterGuest.Counter());
        await vessel.Expect204("PUT", "/network-interfaces/eth0", """{"iface_id": "eth0", "host_dev_name": "vsl-notap0"}""");
        var (status, body) = await vessel.Send("PUT", "/actions", """{"action_type": "InstanceStart"}""");
        Assert.Equal(400, status);
        Assert.Contains("vsl-notap0: no such network interface", VesselProcess.FaultOf(body));
        Assert.Equal("Not started", JsonDocument.Parse(await vessel.Get("/")).RootElement.GetProperty("state").GetString());
    }
}
