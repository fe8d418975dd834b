using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Vessel.Virtio.Net.Backends;
using Xunit.Abstractions;

namespace Vessel.Cli.Tests.LinuxBoot;

/// <summary>The Debian guest with `--net user` (passt) on the emu backend, in one boot: DHCP gives eth0 an address
/// and a default route; a 16 MiB blob from an HTTP server on the host's loopback, fetched through the gateway
/// address, has the host's MD5, and goes back to a sink on the host's loopback with the same MD5; a hostfwd port on the host's loopback reaches busybox httpd in the guest; after
/// `reboot -f` no passt is left. Traffic goes only to loopback.</summary>
[Trait("Category", "LinuxBoot")]
[Collection(LinuxGuestCollection.Name)]
public partial class UserNetworkBootTests(ITestOutputHelper output)
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(15);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan DownloadTimeout = TimeSpan.FromMinutes(10);
    private const string Marker = "VESSEL-GUEST-READY";

    [Fact]
    public void DhcpDownloadThroughTheGatewayAndHostForwardIntoTheGuest()
    {
        var guest = DefaultGuest.Ensure(TextWriter.Null);
        var blob = new byte[16 << 20];
        new Random(20).NextBytes(blob);
        string expectedMd5 = Convert.ToHexStringLower(MD5.HashData(blob));
        using var server = new LoopbackHttpServer(blob);
        int forwardPort = FreeLoopbackPort();

        using var session = new GuestSession(
        [
            "run", "--backend", "emu", "--kernel", guest.Kernel, "--initrd", guest.Initrd,
            "--append", DefaultGuest.CommandLine, "--memory", "512M",
            "--net", $"user,hostfwd=tcp:127.0.0.1:{forwardPort}-:8080,mac=52:54:00:12:34:99",
        ]);
        session.WaitFor(Marker, BootTimeout);
        session.WaitFor("# ", CommandTimeout);

        Assert.Contains("52:54:00:12:34:99", session.Run("ip link show eth0", CommandTimeout));
        foreach (var line in new[]
        {
            "echo '#!/bin/sh' > /s",
            "echo '[ \"$1\" = bound ] || exit 0' >> /s",
            "echo 'ip addr add $ip/$mask dev $interface' >> /s",
            "echo 'ip route add default via $router' >> /s",
            "chmod +x /s",
            "ip link set eth0 up",
        })
            session.Run(line, CommandTimeout);
        string dhcp = session.Run("udhcpc -i eth0 -s /s -q -n -t 10", CommandTimeout);
        output.WriteLine(dhcp);
        Assert.Matches(@"lease of \d+\.\d+\.\d+\.\d+ obtained", dhcp);
        string route = session.Run("ip route", CommandTimeout);
        var gateway = DefaultVia().Match(route);
        Assert.True(gateway.Success, $"no default route: {route}");
        string gw = gateway.Groups[1].Value;

        var clock = Stopwatch.StartNew();
        string wget = session.Run($"wget -q -O /tmp/b http://{gw}:{server.Port}/blob; echo rc=$?", DownloadTimeout);
        double seconds = clock.Elapsed.TotalSeconds;
        Assert.Contains("rc=0", wget);
        output.WriteLine($"16 MiB through passt in {seconds:F1} s ({16 / seconds:F2} MiB/s, console round trips included)");
        Assert.Contains(expectedMd5, session.Run("md5sum /tmp/b", CommandTimeout));

        // The same 16 MiB back to the host: the direction Debian 12's passt once reset at a large MTU (PasstBackend).
        Assert.Contains($"mtu {PasstBackend.StreamMtu} ", session.Run("ip link show eth0", CommandTimeout));
        using (var sink = new LoopbackSink(blob.Length))
        {
            clock.Restart();
            string nc = session.Run($"nc {gw} {sink.Port} < /tmp/b; echo rc=$?", DownloadTimeout);
            var (bytes, md5) = sink.Result(CommandTimeout);
            output.WriteLine($"16 MiB to the host through passt in {clock.Elapsed.TotalSeconds:F1} s: {nc.Trim()}");
            Assert.Equal(blob.Length, bytes);
            Assert.Equal(expectedMd5, md5);
            Assert.Contains("rc=0", nc);
        }
        session.Run("rm /tmp/b", CommandTimeout);

        session.Run("mkdir -p /w && echo vessel-hostfwd-ok > /w/t", CommandTimeout);
        session.Run("httpd -p 8080 -h /w", CommandTimeout);
        string reply = HttpGet(forwardPort, "/t");
        Assert.StartsWith("HTTP/1.", reply);
        Assert.EndsWith("\r\n\r\nvessel-hostfwd-ok\n", reply);

        session.Type("reboot -f\n");
        Assert.True(session.WaitForExit(CommandTimeout), "vessel did not exit after reboot -f");
        Assert.Equal(0, session.ExitCode);
        Assert.Equal(0, ChildProcesses.Named("passt"));
    }

    /// <summary>GET over a plain socket (HTTP/1.0: the server closes when done); the whole reply.</summary>
    private static string HttpGet(int port, string path)
    {
        using var client = new TcpClient();
        client.ReceiveTimeout = client.SendTimeout = 120_000;
        client.Connect(IPAddress.Loopback, port);
        using var stream = client.GetStream();
        stream.Write(System.Text.Encoding.ASCII.GetBytes($"GET {path} HTTP/1.0\r\nHost: guest\r\n\r\n"));
        using var reader = new StreamReader(stream, System.Text.Encoding.ASCII);
        return reader.ReadToEnd();
    }

    private static int FreeLoopbackPort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    [GeneratedRegex(@"default via (\d+\.\d+\.\d+\.\d+)")]
    private static partial Regex DefaultVia();
}
