using Vessel.Cli.Api;

namespace Vessel.Api.Tests;

/// <summary>Every class of bad request gets 400, a fault_message naming what is wrong, and leaves GET /vm/config
/// byte-identical.</summary>
public sealed class BadRequestTests
{
    public static TheoryData<string, string, string?, string> BadRequests() => new()
    {
        // malformed JSON
        { "PUT", "/machine-config", """{"vcpu_count": 1, "mem_size_mib": """, "mem_size_mib" },
        { "PUT", "/boot-source", "not json", "'not json' is an invalid JSON literal" },
        // unknown field
        { "PUT", "/machine-config", """{"vcpu_count": 1, "mem_size_mib": 64, "vcpus": 2}""", "$: unknown field 'vcpus' (the fields are vcpu_count, mem_size_mib, smt, track_dirty_pages, huge_pages, cpu_template)" },
        // wrong types
        { "PUT", "/machine-config", """{"vcpu_count": "two", "mem_size_mib": 64}""", "$.vcpu_count: expected an integer from -2147483648 to 2147483647, not the string \"two\"" },
        { "PATCH", "/machine-config", """{"smt": 1}""", "$.smt: expected true or false, not 1" },
        { "PUT", "/drives/rootfs", """{"drive_id": "rootfs", "is_root_device": true, "rate_limiter": {"ops": {"size": 1.5, "refill_time": 1}}}""", "$.rate_limiter.ops.size: expected an integer from 0 to 18446744073709551615, not 1.5" },
        // missing required field
        { "PUT", "/machine-config", """{"vcpu_count": 1}""", "$: the required field 'mem_size_mib' is missing" },
        // values out of range: the same rule and words as vessel run's --cpus and --memory
        { "PUT", "/machine-config", """{"vcpu_count": 0, "mem_size_mib": 64}""", "vcpu_count 0 is out of range (1 to 254)" },
        { "PATCH", "/machine-config", """{"mem_size_mib": 0}""", "mem_size_mib 0 is too small: the guest needs at least 1M" },
        { "PATCH", "/machine-config", """{"mem_size_mib": 99999999999}""", "mem_size_mib 99999999999 is more than a guest can address" },
        { "PUT", "/machine-config", """{"vcpu_count": 1, "mem_size_mib": 64, "huge_pages": "2M"}""", "huge_pages" },
        // missing files
        { "PUT", "/boot-source", """{"kernel_image_path": "/nonexistent/vmlinux"}""", "/nonexistent/vmlinux: no such file (kernel_image_path)" },
        { "PUT", "/boot-source", """{"kernel_image_path": "/tmp"}""", "kernel_image_path needs a regular file, and this is a directory" },
        { "PUT", "/drives/rootfs", """{"drive_id": "rootfs", "path_on_host": "/nonexistent/rootfs.ext4", "is_root_device": true}""", "no such file (path_on_host)" },
        { "PUT", "/metrics", """{"metrics_path": "/nonexistent/dir/metrics"}""", "no such directory (metrics_path)" },
        // inconsistent ids, wrong enumerations
        { "PUT", "/drives/rootfs", """{"drive_id": "other", "path_on_host": "/tmp/x", "is_root_device": true}""", "does not match the id in the path" },
        { "PUT", "/actions", """{"action_type": "Reboot"}""", "action_type 'Reboot' is not one of" },
        { "PUT", "/logger", """{"level": "Loud"}""", "level 'Loud'" },
        // wrong state: before start
        { "PATCH", "/vm", """{"state": "Paused"}""", VmmController.NotSupportedBeforeStart },
        { "PUT", "/actions", """{"action_type": "SendCtrlAltDel"}""", VmmController.NotSupportedBeforeStart },
        { "PATCH", "/drives/rootfs", """{"drive_id": "rootfs", "path_on_host": "/tmp"}""", VmmController.NotSupportedBeforeStart },
        // wrong methods and paths, empty bodies
        { "GET", "/boot-source", null, "Invalid request method and/or path: GET /boot-source." },
        { "DELETE", "/vm", null, "Invalid request method and/or path: DELETE /vm." },
        { "GET", "/no/such/thing", null, "Invalid request method and/or path" },
        { "PUT", "/boot-source", null, "no body" },
        // network interfaces and vsock: `--net`'s and `--vsock`'s rules
        { "PUT", "/network-interfaces/eth0", """{"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "01:00:00:00:00:01"}""", "guest_mac: '01:00:00:00:00:01' is not a unicast MAC address" },
        { "PUT", "/network-interfaces/eth0", """{"iface_id": "eth0", "host_dev_name": "a/b"}""", "host_dev_name: 'a/b' is not a network interface name" },
        { "PUT", "/network-interfaces/eth0", """{"iface_id": "eth0", "host_dev_name": "user:hostfwd=sctp::1-:2"}""", "host_dev_name 'user:hostfwd=sctp::1-:2': hostfwd 'sctp::1-:2' must start with tcp: or udp:" },
        { "PUT", "/network-interfaces/eth0", """{"iface_id": "eth0", "host_dev_name": "tap0", "rx_rate_limiter": {"ops": {"size": -5, "refill_time": 1}}}""", "$.rx_rate_limiter.ops.size" },
        { "PUT", "/drives/rootfs", """{"drive_id": "rootfs", "path_on_host": "/tmp", "is_root_device": true, "rate_limiter": {"bandwidth": {"refill_time": 1}}}""", "size" },
        { "PUT", "/entropy", """{"rate_limiter": {"bandwidth": {"size": 1, "refill_time": 1, "burst": 2}}}""", "burst" },
        { "PUT", "/network-interfaces/eth0", """{"iface_id": "eth1", "host_dev_name": "tap0"}""", "does not match the id in the path" },
        { "PUT", "/network-interfaces/eth0", """{"iface_id": "eth0"}""", "host_dev_name" },
        { "PATCH", "/network-interfaces/eth0", """{"iface_id": "eth0"}""", VmmController.NotSupportedBeforeStart },
        { "PUT", "/vsock", """{"guest_cid": 2, "uds_path": "/tmp/v.sock"}""", "guest_cid 2: the guest's CID must be from 3 to 4294967294 (0-2 are reserved)" },
        { "PUT", "/vsock", """{"guest_cid": 3, "uds_path": "/nonexistent/dir/v.sock"}""", "no such directory (uds_path)" },
        { "PUT", "/vsock", """{"guest_cid": 3, "uds_path": "/etc/hostname"}""", "uds_path already exists" },
    };

    [Fact]
    public async Task EveryBadRequestIsRefusedAndChangesNothing()
    {
        using var vessel = new VesselProcess();
        await GettingStartedTests.Configure(vessel, CounterGuest.Counter());
        string before = await vessel.Get("/vm/config");
        foreach (var row in BadRequests())
        {
            string method = (string)row[0], path = (string)row[1], expected = (string)row[3];
            string? body = (string?)row[2];
            var (status, response) = await vessel.Send(method, path, body);
            Assert.True(status == 400, $"{method} {path} {body}: {status} {response}");
            Assert.Contains(expected, VesselProcess.FaultOf(response));
            Assert.DoesNotContain("Vessel.", response);
            Assert.DoesNotContain("System.", response);
            Assert.Equal(before, await vessel.Get("/vm/config"));
        }
    }

    [Fact]
    public async Task OversizedBodyIsRefusedWithoutReadingIt()
    {
        using var vessel = new VesselProcess();
        string before = await vessel.Get("/vm/config");
        string huge = $$"""{"kernel_image_path": "{{new string('a', ApiServer.MaxBodyBytes + 1)}}"}""";
        var (status, response) = await vessel.Send("PUT", "/boot-source", huge);
        Assert.Equal(400, status);
        Assert.Contains($"larger than the limit of {ApiServer.MaxBodyBytes}", VesselProcess.FaultOf(response));
        Assert.Equal(before, await vessel.Get("/vm/config"));
    }

    [Fact]
    public async Task SecondRootDeviceIsRefused()
    {
        using var vessel = new VesselProcess();
        await GettingStartedTests.Configure(vessel, CounterGuest.Counter());
        string before = await vessel.Get("/vm/config");
        string disk = vessel.File("second.img", new byte[4096]);
        var (status, response) = await vessel.Send("PUT", "/drives/second", $$"""{"drive_id": "second", "path_on_host": "{{disk}}", "is_root_device": true}""");
        Assert.Equal(400, status);
        Assert.Contains("drive 'rootfs' is already the root device", VesselProcess.FaultOf(response));
        Assert.Equal(before, await vessel.Get("/vm/config"));
    }
}
