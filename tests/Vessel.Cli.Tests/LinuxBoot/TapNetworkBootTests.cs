using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Xunit.Abstractions;

namespace Vessel.Cli.Tests.LinuxBoot;

/// <summary>Skips unless the test can make network namespaces and TAP devices (root, /dev/net/tun, iproute2).</summary>
public sealed class RootNetFactAttribute : FactAttribute
{
    public RootNetFactAttribute()
    {
        if (Environment.UserName != "root" || !File.Exists("/dev/net/tun") ||
            !File.Exists("/usr/sbin/ip") && !File.Exists("/usr/bin/ip") && !File.Exists("/sbin/ip"))
            Skip = "needs root, /dev/net/tun and iproute2 (it creates a network namespace with a TAP device in it)";
    }
}

/// <summary>The Debian guest with `--net tap=NAME` on the emu backend: the test creates a network namespace with a TAP
/// device at 10.214.0.1/24 and runs vessel inside it (`ip netns exec`); the guest takes 10.214.0.2 statically, pings
/// the host side and downloads a 16 MiB blob over HTTP from a server the test runs in that namespace; the MD5 must
/// match. No traffic leaves the namespace, which is removed on every exit path of the test.</summary>
[Trait("Category", "LinuxBoot")]
[Collection(LinuxGuestCollection.Name)]
public partial class TapNetworkBootTests(ITestOutputHelper output)
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

        string ns = $"vessel-tapboot-{Environment.ProcessId}";
        Ip($"netns add {ns}");
        try
        {
            Ip($"-n {ns} link set lo up");
            Ip($"-n {ns} tuntap add {Tap} mode tap");
            Ip($"-n {ns} addr add {HostAddress}/24 dev {Tap}");
            Ip($"-n {ns} link set {Tap} up");
            using var server = new LoopbackHttpServer(blob, ListenerInNamespace(ns, IPAddress.Parse(HostAddress)));

            using var vessel = new VesselProcess(
            [
                "run", "--backend", "emu", "--kernel", guest.Kernel, "--initrd", guest.Initrd,
                "--append", DefaultGuest.CommandLine, "--memory", "512M", "--net", $"tap={Tap},mac=52:54:00:12:34:77",
            ], ns);
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
        finally
        {
            Ip($"netns del {ns}");
        }
    }

    /// <summary>A listener whose socket belongs to namespace <paramref name="ns"/>: a socket keeps the namespace of the
    /// thread that made it, and a namespace is per thread, so a short-lived thread enters it and makes the socket.</summary>
    private static TcpListener ListenerInNamespace(string ns, IPAddress address)
    {
        TcpListener? listener = null;
        Exception? failure = null;
        var maker = new Thread(() =>
        {
            try
            {
                using var nsFile = File.OpenHandle($"/run/netns/{ns}");
                if (setns((int)nsFile.DangerousGetHandle(), CloneNewNet) != 0)
                    throw new InvalidOperationException($"setns failed: errno {Marshal.GetLastPInvokeError()}");
                listener = new TcpListener(address, 0);
                listener.Start();
            }
            catch (Exception e) { failure = e; }
        });
        maker.Start();
        maker.Join();
        Assert.Null(failure);
        return listener!;
    }

    private static void Ip(string arguments)
    {
        using var p = Process.Start(new ProcessStartInfo("ip", arguments) { RedirectStandardError = true, UseShellExecute = false })!;
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"ip {arguments}: {error}");
    }

    private const int CloneNewNet = 0x40000000;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setns(int fd, int nstype);
}
