using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Xunit.Abstractions;

namespace Vessel.Cli.Tests.LinuxBoot;

/// <summary>Skips unless the test can make network namespaces and TAP devices (root, /dev/net/tun, iproute2).</summary>
public sealed class RootNetFactAttribute : FactAttribute
{
    public RootNetFactAttribute()
    {
        Skip = NetworkNamespace.Unavailable;
    }
}

/// <summary>The Debian guest with `--net tap=NAME` on the emu backend: the test creates a network namespace with a TAP
/// device at 10.214.0.1/24 and runs vessel inside it (`ip netns exec`); the guest takes 10.214.0.2 statically, pings
/// the host side and downloads a 16 MiB blob over HTTP from a server the test runs in that namespace; the MD5 must
/// match. No traffic leaves the namespace, which is removed on every exit path of the test.</summary>
[Trait("Category", "LinuxBoot")]
[Collection(LinuxGuestCollection.Name)]
public class TapNetworkBootTests(ITestOutputHelper output)
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(15);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan DownloadTimeout = TimeSpan.FromMinutes(10);
    private const string Marker = "VESSEL-GUEST-READY";
    private const string Tap = "vtap0", HostAddress = "10.214.0.1", GuestAddress = "10.214.0.2";

    [RootNetFact]
    public void StaticAddressPingAndDownloadThroughATapInANamespace()
    {
        var guest = DefaultGuest.Ensure(TextWriter.Null);
        var blob = new byte[16 << 20];
        new Random(21).NextBytes(blob);
        string expectedMd5 = Convert.ToHexStringLower(MD5.HashData(blob));

        using var ns = new NetworkNamespace("vessel-tapboot");
        ns.AddTap(Tap, $"{HostAddress}/24");
        using var server = new LoopbackHttpServer(blob, ns.Inside(() =>
        {
            var listener = new TcpListener(IPAddress.Parse(HostAddress), 0);
            listener.Start();
            return listener;
        }));

        using var vessel = new VesselProcess(
        [
            "run", "--backend", "emu", "--kernel", guest.Kernel, "--initrd", guest.Initrd,
            "--append", DefaultGuest.CommandLine, "--memory", "512M", "--net", $"tap={Tap},mac=52:54:00:12:34:77",
        ], ns.Name);
        vessel.WaitFor(Marker, BootTimeout);
        vessel.WaitFor("# ", CommandTimeout);

        Assert.Contains("52:54:00:12:34:77", vessel.Run("ip link show eth0", CommandTimeout));
        vessel.Run($"ip addr add {GuestAddress}/24 dev eth0", CommandTimeout);
        vessel.Run("ip link set eth0 up", CommandTimeout);
        string ping = vessel.Run($"ping -c 3 -W 5 {HostAddress}", CommandTimeout);
        output.WriteLine(ping);
        Assert.Contains("3 packets received", ping);

        var clock = Stopwatch.StartNew();
        string wget = vessel.Run($"wget -q -O /tmp/b http://{HostAddress}:{server.Port}/blob; echo rc=$?", DownloadTimeout);
        double seconds = clock.Elapsed.TotalSeconds;
        Assert.Contains("rc=0", wget);
        output.WriteLine($"16 MiB through the TAP in {seconds:F1} s ({16 / seconds:F2} MiB/s, console round trips included)");
        Assert.Contains(expectedMd5, vessel.Run("md5sum /tmp/b", CommandTimeout));
        Assert.Equal(1, server.Requests);

        vessel.Type("reboot -f\n");
        Assert.True(vessel.WaitForExit(CommandTimeout), "vessel did not exit after reboot -f");
        Assert.Equal(0, vessel.ExitCode);
    }
}
