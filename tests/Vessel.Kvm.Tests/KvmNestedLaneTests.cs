using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Vessel.Cli.Tests;

namespace Vessel.Kvm.Tests;

/// <summary>The kvm backend for real: scripts/kvm-nested-lane.sh boots Debian's kernel in QEMU (TCG, AMD SVM
/// exposed) with KVM loaded as a nested hypervisor, and runs `vessel run --backend kvm` there on a REP OUTSB boot
/// sector, on the foundation's tiny guests of every CPU mode (built here, as ModeTests builds them) and on the
/// default Debian guest booted with its root on a virtio disk (an ext4 image holding a file the host put there) up to
/// shell commands that read that file, write and sync another, write, sync and read back a second virtio disk and
/// read virtio-rng, ping L1 and download a blob over a TAP device in L1, take a DHCP lease from passt on a second NIC
/// (`--net user`), download a blob from L1's loopback through passt's gateway and serve one that L1 fetches through a
/// hostfwd port, and move bytes both ways over vsock (no passt is left in L1 once vessel exited), then booted
/// again with its shell on hvc0, a read-only disk and a data disk whose synced write survives kill -9 of vessel, and a
/// third time through `vessel --api-sock` with Firecracker's getting-started requests, paused and resumed;
/// the foundation's lifecycle check (tests/Vessel.Kvm.LifecycleProbe)
/// and a refused RAM size run there too. Takes minutes: .ci/run runs it as its own step (Category=KvmNested).</summary>
public sealed partial class KvmNestedLaneTests
{
    /// <summary>Image name, its bytes, and what `vessel run` must print and return for it.</summary>
    private static readonly (string Name, byte[] Image, string Stdout, int Exit)[] Guests =
    [
        ("real-mode.bin", BootSectors.HiThenExit3(), "hi", 3),
        ("real-mode-timer.bin", BootSectors.TimerWakesHalt(), "T", 3),
        ("protected.elf", TinyElf.PrintThenExit(32, "protected\n", 5), "protected\n", (5 << 1) | 1),
        ("long-mode.elf", TinyElf.PrintThenExit(64, "long mode\n", 9), "long mode\n", (9 << 1) | 1),
    ];

    [Fact]
    [Trait("Category", "KvmNested")]
    public async Task VesselRunsTinyGuestsAndDebianOnNestedKvm()
    {
        string repo = FindRepository();
        string guests = Directory.CreateTempSubdirectory("vessel-lane-guests-").FullName;
        try
        {
            foreach (var g in Guests) File.WriteAllBytes(Path.Combine(guests, g.Name), g.Image);
            var (code, stdout, stderr) = await RunLane(repo, guests);
            string all = stdout + stderr;
            Assert.True(code == 0, $"kvm-nested-lane.sh exited {code}:\n{all}");
            Assert.Contains("LANE: /dev/kvm present", stdout);
            Assert.Contains("using the kvm backend", stdout);
            Assert.Contains("vessel-kvm-ok", stdout);
            Assert.Contains("LANE-VESSEL-EXIT=3", stdout);

            var results = GuestLine().Matches(stdout).ToDictionary(m => m.Groups[1].Value, m => m);
            foreach (var (name, _, expectedOut, expectedExit) in Guests)
            {
                Assert.True(results.TryGetValue(name, out var m), $"no result line for {name}:\n{all}");
                Assert.Equal(expectedExit, int.Parse(m.Groups[2].Value));
                Assert.Equal(expectedOut, Encoding.UTF8.GetString(Convert.FromBase64String(m.Groups[3].Value)));
                Assert.Equal("", Encoding.UTF8.GetString(Convert.FromBase64String(m.Groups[4].Value)));
            }

            // The foundation's lifecycle check, in L1: no KVM descriptor, mapping or vCPU thread left.
            Assert.Contains("LANE-LIFECYCLE-EXIT=0", stdout);
            Assert.Matches(@"(?m)^lifecycle: after +fds=\d+ kvm-fds=0 kvm-mappings=0 vcpu-threads=0 ", stdout);
            Assert.Matches("(?m)^lifecycle: PASS$", stdout);
            var refused = RefusedLine().Match(stdout);
            Assert.True(refused.Success, $"no LANE-REFUSED line:\n{all}");
            // More than a guest can address: the CLI refuses it before KVM is asked (the lifecycle probe above
            // has KVM itself refuse a 9 TiB slot).
            Assert.Equal(2, int.Parse(refused.Groups[1].Value));
            Assert.StartsWith("vessel: --memory 9T is more than a guest can address",
                Encoding.UTF8.GetString(Convert.FromBase64String(refused.Groups[2].Value)));

            // The root on virtio: the initramfs switched to /dev/vda; L2 read the file the host wrote into the image,
            // and after vessel exited L1 found the image consistent and read back the file L2 wrote and synced.
            var tokens = RootTokensLine().Match(stdout);
            Assert.True(tokens.Success, $"no LANE-ROOT-TOKENS line:\n{all}");
            Assert.Contains("L2| VESSEL-ROOT-READY /dev/vda", stdout);
            Assert.Contains($"L2| L2HOST-FILE host-put-{tokens.Groups[1].Value}", stdout);
            Assert.Contains("L2| L2SYNC=0", stdout);
            Assert.Matches("(?m)^LANE-ROOT-FSCK=[01]$", stdout);
            Assert.Contains($"LANE-ROOT-FILE l2-wrote-{tokens.Groups[2].Value}", stdout);
            Assert.Matches(@"L2\| Linux \S+ 6\.1\.0-\S+-amd64 #1 SMP", stdout);
            Assert.Contains("LANE-L2-EXIT=0", stdout);

            // virtio on kvm: the pattern L2 wrote with O_DIRECT and synced, what it read back, and the image's bytes
            // as L1 read them after vessel exited are one md5; the disk's and the rng's queues interrupted through
            // MSI-X vectors, which on kvm are routed GSIs with irqfds (no route refused).
            string wrote = Md5After("L2| L2DISK-WROTE ", stdout), readBack = Md5After("L2| L2DISK-READ ", stdout);
            Assert.Matches("^[0-9a-f]{32}$", wrote);
            Assert.Equal(wrote, readBack);
            Assert.Equal(wrote, Md5After("LANE-DISK-IMAGE ", stdout));
            Assert.Contains("L2| L2DISK-DD=0", stdout);
            Assert.Contains("L2| L2RNG-BYTES=16", stdout);
            // Linux 6.1 names the MSI domain, not the vector kind: " 25:  131  PCI-MSI 16385-edge  virtio0-req.0".
            Assert.Matches(@"(?m)^L2\| +\d+: +[1-9]\d* +PCI-MSI \d+-edge +virtio\d+-req\.0$", stdout);
            Assert.Matches(@"(?m)^L2\| +\d+: +[1-9]\d* +PCI-MSI \d+-edge +virtio\d+-input$", stdout);
            Assert.DoesNotContain("could not be routed", stdout);

            // The second boot: its shell on hvc0 (vessel's stdin reaches only the virtio console), a direct write to
            // the read-only disk refused and its image unchanged, and the token L2 wrote with O_DIRECT and synced found
            // in the data image after L1 kill -9'd vessel on the line printed once sync returned.
            Assert.Contains("HVC| HVC-CONSOLE=hvc0", stdout);
            Assert.Matches(@"(?m)^HVC\| HVC-RO-DD=[1-9]\d*$", stdout);
            Assert.Contains("HVC| HVC-DATA-DD=0", stdout);
            Assert.Contains("HVC| HVC-SYNCED", stdout);
            Assert.Matches("(?m)^LANE-HVC-EXIT=137$", stdout);
            string roBefore = Md5After("LANE-HVC-RO-BEFORE ", stdout);
            Assert.Matches("^[0-9a-f]{32}$", roBefore);
            Assert.Equal(roBefore, Md5After("LANE-HVC-RO-AFTER ", stdout));
            var token = HvcTokenLine().Match(stdout);
            Assert.True(token.Success, $"no LANE-HVC-TOKEN line:\n{all}");
            Assert.Matches($"(?m)^LANE-HVC-DATA data-{token.Groups[1].Value}$", stdout);

            // virtio-net on kvm, in the first boot: a TAP device in L1 (which has no NIC), the MAC given to --net, three
            // ping answers from L1 and a random blob downloaded from busybox httpd in L1, byte for byte.
            Assert.Contains("L2| L2NET-MAC 52:54:00:12:34:56", stdout);
            Assert.Contains("L2| L2NET-PING=3", stdout);
            string blob = Md5After("LANE-NET-BLOB ", stdout);
            Assert.Matches("^[0-9a-f]{32}$", blob);
            Assert.Equal(blob, Md5After("L2| L2NET-WGET=0 ", stdout));

            // User mode on kvm, the same boot's second NIC (`--net user,hostfwd=tcp:127.0.0.1:8082-:8080`): passt in L1
            // (run as root, it changes to nobody) gave eth1 a lease and a default route; a blob from busybox httpd on L1's
            // loopback arrived through the gateway address byte for byte; L1 read the guest's token and blob from busybox
            // httpd in the guest through the hostfwd port; and passt ended with vessel.
            Assert.Contains("L2| L2USER-MAC 52:54:00:12:34:57", stdout);
            Assert.Matches(@"(?m)^L2\| L2USER-DHCP lease of \d+\.\d+\.\d+\.\d+ obtained$", stdout);
            Assert.Matches(@"(?m)^L2\| L2USER-GW=\d+\.\d+\.\d+\.\d+$", stdout);
            string userBlob = Md5After("LANE-USER-BLOB ", stdout);
            Assert.Matches("^[0-9a-f]{32}$", userBlob);
            Assert.NotEqual(blob, userBlob);
            Assert.Equal(userBlob, Md5After("L2| L2USER-WGET=0 ", stdout));
            var fwdToken = UserTokenLine().Match(stdout);
            Assert.True(fwdToken.Success, $"no LANE-USER-TOKEN line:\n{all}");
            Assert.Matches($"(?m)^LANE-USER-HOSTFWD hostfwd-{fwdToken.Groups[1].Value}$", stdout);
            string served = Md5After("L2| L2USER-SERVE ", stdout);
            Assert.Matches("^[0-9a-f]{32}$", served);
            Assert.Equal(served, Md5After("LANE-USER-HOSTFWD-BLOB=0 ", stdout));
            Assert.Matches("(?m)^LANE-USER-PASST-LEFT=0$", stdout);

            // vsock on kvm, both connection directions, both byte directions in each: the guest's connection to the
            // host (CID 2 port 5000 -> L1's listener at PATH_5000) and L1's CONNECT 6000 through PATH to a guest
            // listener, answered "OK <port>"; what each side sent is what the other received.
            string up = Md5After("L2| L2VSOCK-UP ", stdout);
            Assert.Matches("^[0-9a-f]{32}$", up);
            Assert.Equal(up, Md5After("LANE-VSOCK-HOST-GOT ", stdout));
            Assert.Equal(Md5After("LANE-VSOCK-SENT ", stdout), Md5After("L2| L2VSOCK-CONNECT=0 ", stdout));
            var hostConnection = HostConnectionLine().Match(stdout);
            Assert.True(hostConnection.Success, $"no LANE-VSOCK-HOSTCONN line answered OK:\n{all}");
            Assert.Equal(up, hostConnection.Groups[1].Value);
            Assert.NotEqual(up, Md5After("LANE-VSOCK-SENT2 ", stdout));
            Assert.Equal(Md5After("LANE-VSOCK-SENT2 ", stdout), Md5After("L2| L2VSOCK-LISTEN=0 ", stdout));

            // Firecracker's getting-started sequence through vessel --api-sock on kvm (scripts/api-getting-started.requests,
            // the bodies scripts/api-getting-started.sh sends): every request 204 in order, the guest's root on vda,
            // GET /vm/config, then PATCH /vm Paused (GET / says so; the guest's half-second ticks stop for 4 s) and
            // Resumed (they come back); reboot -f ends vessel with 0 and the logger's file says the microVM started.
            Assert.Equal(["/logger", "/boot-source", "/drives/rootfs", "/machine-config", "/actions"],
                ApiRequestLine().Matches(stdout).Select(m => m.Groups[1].Value));
            Assert.Contains("API| VESSEL-ROOT-READY /dev/vda", stdout);
            Assert.Matches("""(?m)^LANE-API-CONFIG HTTP/1.1 200 OK\{.*"path_on_host":"/l2/root\.img".*"mem_size_mib":256""", stdout);
            Assert.Matches("(?m)^LANE-API-PAUSE HTTP/1.1 204 ", stdout);
            Assert.Matches("""(?m)^LANE-API-STATE HTTP/1.1 200 OK\{.*"state":"Paused",""", stdout);
            Assert.Matches("(?m)^LANE-API-RESUME HTTP/1.1 204 ", stdout);
            var ticks = TicksLine().Match(stdout);
            Assert.True(ticks.Success, $"no LANE-API-TICKS line:\n{all}");
            Assert.True(int.Parse(ticks.Groups[1].Value) > 0, "the guest never ticked before the pause");
            Assert.Equal(0, int.Parse(ticks.Groups[2].Value));
            Assert.True(int.Parse(ticks.Groups[3].Value) > 0, "the guest did not tick after the resume");
            Assert.Contains("LANE-API-EXIT=0", stdout);
            Assert.Matches("(?m)^LANE-API-LOG started=[1-9]", stdout);
        }
        finally
        {
            Directory.Delete(guests, recursive: true);
        }
    }

    /// <summary>The md5 on the last line that starts with <paramref name="tag"/> ("HASH  -" or "HASH -").</summary>
    private static string Md5After(string tag, string stdout)
    {
        string? line = stdout.Split('\n').LastOrDefault(l => l.StartsWith(tag, StringComparison.Ordinal));
        Assert.True(line is not null, $"no line starting with '{tag}'");
        return line![tag.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
    }

    [GeneratedRegex(@"^LANE-GUEST (\S+) exit=(\d+) out=(\S*) err=(\S*)$", RegexOptions.Multiline)]
    private static partial Regex GuestLine();

    [GeneratedRegex(@"^LANE-ROOT-TOKENS host=([0-9a-f]{16}) l2=([0-9a-f]{16})$", RegexOptions.Multiline)]
    private static partial Regex RootTokensLine();

    [GeneratedRegex(@"^LANE-HVC-TOKEN ([0-9a-f]{16})$", RegexOptions.Multiline)]
    private static partial Regex HvcTokenLine();

    [GeneratedRegex(@"^LANE-USER-TOKEN ([0-9a-f]{16})$", RegexOptions.Multiline)]
    private static partial Regex UserTokenLine();

    [GeneratedRegex(@"^LANE-VSOCK-HOSTCONN tries=\d+ answer=OK_\d+ ([0-9a-f]{32})", RegexOptions.Multiline)]
    private static partial Regex HostConnectionLine();

    [GeneratedRegex(@"^LANE-API PUT (\S+) HTTP/1\.1 204 ", RegexOptions.Multiline)]
    private static partial Regex ApiRequestLine();

    [GeneratedRegex(@"^LANE-API-TICKS before=(\d+) paused=(\d+) resumed=(\d+)$", RegexOptions.Multiline)]
    private static partial Regex TicksLine();

    [GeneratedRegex(@"^LANE-REFUSED memory=9T exit=(\d+) err=(\S*)$", RegexOptions.Multiline)]
    private static partial Regex RefusedLine();

    private static async Task<(int Code, string Stdout, string Stderr)> RunLane(string repo, string guests)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(repo, "scripts", "kvm-nested-lane.sh"));
        info.Environment["KVM_LANE_GUESTS"] = guests;
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, stdout.Replace("\r", ""), await stderr);
    }

    private static string FindRepository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Vessel.slnx"))) return dir.FullName;
        throw new InvalidOperationException("cannot find the repository (Vessel.slnx) above " + AppContext.BaseDirectory);
    }
}
