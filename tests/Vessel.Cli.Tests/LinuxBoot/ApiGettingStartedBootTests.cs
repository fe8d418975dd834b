using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Xunit.Abstractions;

namespace Vessel.Cli.Tests.LinuxBoot;

/// <summary>Firecracker's getting-started sequence against `vessel --api-sock` with the Debian guest: logger,
/// boot-source, drives (rootfs.ext4 as the root device), machine-config, InstanceStart; the guest mounts its root
/// from /dev/vda and runs a command; then SendCtrlAltDel reaches the guest's keyboard driver, Linux restarts through
/// the i8042 (reboot=k) and vessel exits as on a reset. A second drive has Firecracker's rate_limiter: the guest's
/// dd of 3 MiB from it at 1 MiB/s (the first MiB is the full bucket) takes at least 2 s by the guest's own clock,
/// and after a PATCH to 256 KiB/s on the running VM, 1 MiB takes at least 3 s. One boot: ~40 s of emulated CPU.</summary>
[Trait("Category", "LinuxBoot")]
[Collection(LinuxGuestCollection.Name)]
public class ApiGettingStartedBootTests(ITestOutputHelper output)
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(15); // ~40 s alone; a loaded shared machine, minutes
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task GettingStartedSequenceBootsFromTheRootDriveAndCtrlAltDelEndsTheVm()
    {
        var guest = DefaultGuest.Ensure(TextWriter.Null);
        string rootfs = Path.Combine(Path.GetDirectoryName(guest.Kernel)!, "rootfs.ext4");
        Assert.True(File.Exists(rootfs), $"{rootfs} is missing: scripts/build-guest.sh builds it");
        string work = Directory.CreateTempSubdirectory("vessel-api-boot-").FullName;
        try
        {
            string root = Path.Combine(work, "rootfs.ext4"), socket = Path.Combine(work, "api.sock"), log = Path.Combine(work, "vessel.log");
            File.Copy(rootfs, root);
            string limited = Path.Combine(work, "limited.img");
            File.WriteAllBytes(limited, new byte[4 << 20]);
            using var session = new GuestSession(["--api-sock", socket, "--backend", "emu"]);
            using var client = UnixHttp(socket);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (!File.Exists(socket) && DateTime.UtcNow < deadline) Thread.Sleep(20);

            var started = Stopwatch.StartNew();
            await Put(client, "/logger", $$"""{"log_path": "{{log}}", "level": "Info", "show_level": true, "show_log_origin": true}""");
            await Put(client, "/boot-source", $$"""{"kernel_image_path": "{{guest.Kernel}}", "initrd_path": "{{guest.Initrd}}", "boot_args": "console=ttyS0 reboot=k panic=1 nokaslr acpi=off"}""");
            await Put(client, "/drives/rootfs", $$"""{"drive_id": "rootfs", "path_on_host": "{{root}}", "is_root_device": true, "is_read_only": false}""");
            await Put(client, "/drives/limited", $$$$"""{"drive_id": "limited", "path_on_host": "{{{{limited}}}}", "is_root_device": false, "rate_limiter": {"bandwidth": {"size": 1048576, "refill_time": 1000}}}""");
            await Put(client, "/machine-config", """{"vcpu_count": 1, "mem_size_mib": 256}""");
            await Put(client, "/actions", """{"action_type": "InstanceStart"}""");

            Assert.Contains("/dev/vda", session.WaitFor("VESSEL-ROOT-READY", BootTimeout) + session.WaitFor("# ", CommandTimeout));
            output.WriteLine($"root shell after {started.Elapsed.TotalSeconds:F1} s");
            Assert.Contains("/dev/vda / ext4 rw", session.Run("cat /proc/mounts", CommandTimeout));
            Assert.Contains("root=/dev/vda rw", session.Run("cat /proc/cmdline", CommandTimeout));

            // Direct reads: no page cache between the guest's dd and the device; u prints the guest's uptime before
            // and after on the same command line. Bounds are lower bounds only.
            session.Run("u(){ cut -d' ' -f1 /proc/uptime; }", CommandTimeout);
            double seconds = TimedSeconds(session.Run("u;dd if=/dev/vdb of=/dev/null bs=1M count=3 iflag=direct;u", CommandTimeout), 3);
            output.WriteLine($"3 MiB at 1 MiB/s: {seconds:F2} s");
            Assert.True(seconds >= 2.0, $"3 MiB through a 1 MiB/s limit in {seconds} s");
            using (var patch = await client.PatchAsync("/drives/limited", new StringContent(
                """{"drive_id": "limited", "rate_limiter": {"bandwidth": {"size": 262144, "refill_time": 1000}}}""", Encoding.UTF8, "application/json")))
                Assert.Equal(204, (int)patch.StatusCode);
            seconds = TimedSeconds(session.Run("u;dd if=/dev/vdb of=/dev/null bs=256k count=4 iflag=direct;u", CommandTimeout), 4);
            output.WriteLine($"1 MiB at 256 KiB/s after PATCH: {seconds:F2} s");
            Assert.True(seconds >= 3.0, $"1 MiB through a 256 KiB/s limit in {seconds} s");
            // Size 0 lifts the limit: for the log only (an upper bound on a shared machine would be a coin toss).
            using (var patch = await client.PatchAsync("/drives/limited", new StringContent(
                """{"drive_id": "limited", "rate_limiter": {"bandwidth": {"size": 0, "refill_time": 0}}}""", Encoding.UTF8, "application/json")))
                Assert.Equal(204, (int)patch.StatusCode);
            seconds = TimedSeconds(session.Run("u;dd if=/dev/vdb of=/dev/null bs=1M count=3 iflag=direct;u", CommandTimeout), 3);
            output.WriteLine($"3 MiB without a limit: {seconds:F2} s");

            await Put(client, "/actions", """{"action_type": "SendCtrlAltDel"}""");
            Assert.True(session.WaitForExit(CommandTimeout), $"the guest did not restart on Ctrl-Alt-Del; console:\n{session.Unconsumed}");
            output.WriteLine($"ended {started.Elapsed.TotalSeconds:F1} s after the first request, status {session.ExitCode}");
            Assert.Equal(0, session.ExitCode);
            Assert.Contains("Successfully started microvm", File.ReadAllText(log));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>The guest's uptime printed before and after a dd of <paramref name="records"/> full records: the
    /// seconds between the two (busybox's dd prints no timing of its own).</summary>
    private static double TimedSeconds(string output, int records)
    {
        Assert.Contains($"{records}+0 records out", output);
        var uptimes = System.Text.RegularExpressions.Regex.Matches(output, @"^\s*(\d+\.\d+)\s*$", System.Text.RegularExpressions.RegexOptions.Multiline);
        Assert.True(uptimes.Count == 2, $"two uptimes expected around dd in: {output}");
        return double.Parse(uptimes[1].Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) -
            double.Parse(uptimes[0].Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task Put(HttpClient client, string path, string json)
    {
        using var response = await client.PutAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        Assert.True((int)response.StatusCode == 204, $"PUT {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    private static HttpClient UnixHttp(string socketPath) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, token) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), token);
            return new NetworkStream(socket, ownsSocket: true);
        },
    })
    { BaseAddress = new Uri("http://localhost"), Timeout = TimeSpan.FromSeconds(60) };
}
