using System.Text.Json;
using Vessel.Cli.Api;
using Vessel.Cli.Tests;

namespace Vessel.Api.Tests;

public sealed class ConfigFileTests
{
    [Fact]
    public async Task ConfigFileBootEqualsTheApiBoot()
    {
        string apiConfig;
        string configFile = Path.Combine(Path.GetTempPath(), $"vessel-config-{Guid.NewGuid():N}.json");
        using var files = new VesselProcess();
        await GettingStartedTests.Configure(files, CounterGuest.Counter(), logPath: Path.Combine(Path.GetTempPath(), $"vessel-log-{Guid.NewGuid():N}"));
        await files.Expect204("PUT", "/actions", """{"action_type": "InstanceStart"}""");
        apiConfig = await files.Get("/vm/config");
        File.WriteAllText(configFile, apiConfig);
        try
        {
            using var fromFile = new VesselProcess("--config-file", configFile);
            Assert.True(fromFile.WaitForOutput(o => o.Length >= 20, TimeSpan.FromSeconds(30)), fromFile.Error);
            Assert.True(CounterGuest.IsCounting(fromFile.Output, out _));
            Assert.Equal("Running", JsonDocument.Parse(await fromFile.Get("/")).RootElement.GetProperty("state").GetString());
            Assert.Equal(apiConfig, await fromFile.Get("/vm/config"));
        }
        finally
        {
            File.Delete(configFile);
        }
    }

    [Fact]
    public void ConfigFileWithoutApiBootsAndEndsWithTheGuest()
    {
        using var kernel = new TempFile(CounterGuest.PrintThenExit("from a file\n", 1));
        using var config = new TempFile(System.Text.Encoding.UTF8.GetBytes(
            $$$"""{"boot-source": {"kernel_image_path": "{{{kernel.Path}}}"}, "machine-config": {"vcpu_count": 1, "mem_size_mib": 32}}"""));
        using var vessel = new VesselProcess("--config-file", config.Path, "--no-api");
        Assert.Equal((1 << 1) | 1, vessel.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal("from a file\n", vessel.Output);
    }

    [Theory]
    [InlineData("""{"machine-config": {"vcpu_count": 0, "mem_size_mib": 32}}""", "vcpu_count 0 is out of range (1 to 254)")]
    [InlineData("""{"machine-config": {"vcpu_count": 1, "mem_size_mib": 32, "bogus": 1}}""", "$.machine-config: unknown field 'bogus' (the fields are vcpu_count, mem_size_mib, smt,")]
    [InlineData("""{"machine-config": {"vcpu_count": "two", "mem_size_mib": 32}}""", "$.machine-config.vcpu_count: expected an integer from -2147483648 to 2147483647, not the string \"two\"")]
    [InlineData("""{"boot-source": {"kernel_image_path": 5}}""", "$.boot-source.kernel_image_path: expected a string, not 5")]
    [InlineData("""{"drives": [{"drive_id": "a", "is_root_device": true}, {"drive_id": "b", "is_root_device": "yes"}]}""", "$.drives[1].is_root_device: expected true or false, not the string \"yes\"")]
    [InlineData("""{"drives": [{"drive_id": "a"}]}""", "$.drives[0]: the required field 'is_root_device' is missing")]
    [InlineData("""{"vsock": {"guest_cid": 3, "uds_path": "/tmp/x.sock",}}""", "line 1, column")]
    [InlineData("""{"boot-source": {"kernel_image_path": "/k"}, "machine_config": {}}""", "$: unknown field 'machine_config' (the fields are boot-source, drives, machine-config,")]
    [InlineData("""{"boot-source": {"kernel_image_path": "/nonexistent/k"}}""", "/nonexistent/k: no such file (kernel_image_path)")]
    [InlineData("""{"network-interfaces": [{"iface_id": "eth0"}]}""", "host_dev_name")]
    [InlineData("""{"network-interfaces": [{"iface_id": "a", "host_dev_name": "tap0"}, {"iface_id": "b", "host_dev_name": "tap1", "guest_mac": "52:54:00:12:34:56"}]}""", "guest_mac: the MAC address 52:54:00:12:34:56 is already in use by another interface")]
    [InlineData("""{"vsock": {"guest_cid": 1, "uds_path": "/tmp/x.sock"}}""", "guest_cid 1: the guest's CID must be from 3")]
    public void BadConfigFileIsOneErrorNamingTheField(string json, string expected)
    {
        using var config = new TempFile(System.Text.Encoding.UTF8.GetBytes(json));
        var result = CliRunner.Run("--config-file", config.Path, "--no-api", "--backend", "emu");
        Assert.Equal(2, result.ExitCode);
        Assert.Single(result.StderrLines);
        Assert.StartsWith($"vessel: {config.Path}: ", result.Stderr);
        Assert.Contains(expected, result.Stderr);
        Assert.DoesNotContain("Vessel.", result.Stderr);
        Assert.DoesNotContain("System.", result.Stderr);
    }

    /// <summary>One validator: the CLI's flag and the API's field get the same words for the same wrong value.</summary>
    [Fact]
    public void SameWrongValueSameMessageFromFlagsAndApi()
    {
        var fromFlag = CliRunner.Run("run", "--cpus", "0");
        var fromApi = Assert.Throws<Vessel.Cli.CliException>(() => new VmResources().WithMachine(new MachineConfiguration { VcpuCount = 0, MemSizeMib = 64 }));
        Assert.Equal("vessel: --cpus 0 is out of range (1 to 254)\n", fromFlag.Stderr);
        Assert.Equal("vcpu_count 0 is out of range (1 to 254)", fromApi.Message);
        var memFlag = CliRunner.Run("run", "--memory", "0");
        var memApi = Assert.Throws<Vessel.Cli.CliException>(() => new VmResources().WithMachine(new MachineConfiguration { VcpuCount = 1, MemSizeMib = 0 }));
        Assert.Equal("vessel: --memory 0 is too small: the guest needs at least 1M\n", memFlag.Stderr);
        Assert.Equal("mem_size_mib 0 is too small: the guest needs at least 1M", memApi.Message);

        var macFlag = CliRunner.Run("run", "--net", "tap=tap0,mac=ff:ff:ff:ff:ff:ff");
        var macApi = Assert.Throws<Vessel.Cli.CliException>(() => new VmResources().WithNetworkInterface("eth0",
            new NetworkInterface { IfaceId = "eth0", HostDevName = "tap0", GuestMac = "ff:ff:ff:ff:ff:ff" }));
        Assert.Equal("vessel: --net 'tap=tap0,mac=ff:ff:ff:ff:ff:ff': 'ff:ff:ff:ff:ff:ff' is not a unicast MAC address (like 52:54:00:12:34:57)\n", macFlag.Stderr);
        Assert.Equal("guest_mac: 'ff:ff:ff:ff:ff:ff' is not a unicast MAC address (like 52:54:00:12:34:57)", macApi.Message);
        var tapFlag = CliRunner.Run("run", "--net", "tap=a:b");
        var tapApi = Assert.Throws<Vessel.Cli.CliException>(() => new VmResources().WithNetworkInterface("eth0",
            new NetworkInterface { IfaceId = "eth0", HostDevName = "a:b" }));
        Assert.Equal("vessel: --net 'tap=a:b': 'a:b' is not a network interface name (1 to 15 characters, no '/', ':' or spaces)\n", tapFlag.Stderr);
        Assert.Equal("host_dev_name: 'a:b' is not a network interface name (1 to 15 characters, no '/', ':' or spaces)", tapApi.Message);
        var cidFlag = CliRunner.Run("run", "--vsock", "cid=2,uds=/tmp/x.sock");
        var cidApi = Assert.Throws<Vessel.Cli.CliException>(() => new VmResources().WithVsock(new VsockDevice { GuestCid = 2, UdsPath = "/tmp/x.sock" }));
        Assert.Equal("vessel: --vsock cid=2: the guest's CID must be from 3 to 4294967294 (0-2 are reserved)\n", cidFlag.Stderr);
        Assert.Equal("guest_cid 2: the guest's CID must be from 3 to 4294967294 (0-2 are reserved)", cidApi.Message);
    }
}

public sealed class RunOptionsMappingTests
{
    [Fact]
    public void RootDriveIsVdaOnTheCommandLineAndEntropyAddsVirtioRng()
    {
        using var kernel = new TempFile(CounterGuest.PrintThenExit("x", 1));
        using var data = new TempFile(new byte[4096]);
        using var root = new TempFile(new byte[4096]);
        var resources = new VmResources()
            .WithBootSource(new BootSource { KernelImagePath = kernel.Path, BootArgs = "console=ttyS0" })
            .WithDrive("data", new Drive { DriveId = "data", IsRootDevice = false, PathOnHost = data.Path })
            .WithDrive("root", new Drive { DriveId = "root", IsRootDevice = true, PathOnHost = root.Path, IsReadOnly = true })
            .WithEntropy(new EntropyDevice());
        var options = resources.ToRunOptions(Vessel.Cli.Options.BackendChoice.Emu, Microsoft.Extensions.Logging.LogLevel.Warning);
        Assert.Equal("console=ttyS0 root=/dev/vda ro", options.CommandLine);
        Assert.Equal([root.Path, data.Path], options.Disks.Select(d => d.Path));
        Assert.True(options.Disks[0].ReadOnly);
        Assert.True(options.Rng);
        Assert.Equal(128UL << 20, options.MemoryBytes);
    }

    /// <summary>network-interfaces and vsock become the machine model `--net` and `--vsock` make: a TAP by
    /// host_dev_name, passt for "user:" (with `--net user`'s hostfwd), guest_mac as mac=, default MACs by position.</summary>
    [Fact]
    public void NetworkInterfacesAndVsockMapOntoNetAndVsockOptions()
    {
        using var kernel = new TempFile(CounterGuest.PrintThenExit("x", 1));
        string uds = Path.Combine(Path.GetTempPath(), $"vessel-map-{Guid.NewGuid():N}.sock");
        var resources = new VmResources()
            .WithBootSource(new BootSource { KernelImagePath = kernel.Path })
            .WithNetworkInterface("eth0", new NetworkInterface { IfaceId = "eth0", HostDevName = "tap7", GuestMac = "06:00:ac:10:00:02" })
            .WithNetworkInterface("eth1", new NetworkInterface { IfaceId = "eth1", HostDevName = "user:hostfwd=tcp:127.0.0.1:8022-:22" })
            .WithVsock(new VsockDevice { GuestCid = 42, UdsPath = uds });
        var options = resources.ToRunOptions(Vessel.Cli.Options.BackendChoice.Emu, Microsoft.Extensions.Logging.LogLevel.Warning);
        var fromFlags = Vessel.Cli.Options.NetOption.ParseAll(["tap=tap7,mac=06:00:ac:10:00:02", "user,hostfwd=tcp:127.0.0.1:8022-:22"]);
        Assert.Equal(2, options.Networks.Count);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(fromFlags[i] with { HostForwards = [] }, options.Networks[i] with { HostForwards = [] });
            Assert.Equal(fromFlags[i].HostForwards, options.Networks[i].HostForwards);
        }
        Assert.Equal(Vessel.Cli.Options.VsockOption.Parse($"cid=42,uds={uds}"), options.Vsock);

        // Replacing eth0 with eth1's MAC is refused and leaves the configuration as it was.
        Assert.Throws<Vessel.Cli.CliException>(() => resources.WithNetworkInterface("eth0",
            new NetworkInterface { IfaceId = "eth0", HostDevName = "tap7", GuestMac = "52:54:00:12:34:57" }));
        Assert.Throws<Vessel.Cli.CliException>(() => resources.WithNetworkInterface("eth2",
            new NetworkInterface { IfaceId = "eth2", HostDevName = "tap7" }));
        Assert.Equal(2, resources.NetworkInterfaces.Count);
    }
}
