using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Xunit.Abstractions;

namespace Vessel.Cli.Tests.LinuxBoot;

/// <summary>Firecracker's getting-started sequence against `vessel --api-sock` with the Debian guest: logger,
/// boot-source, drives (rootfs.ext4 as the root device), machine-config, InstanceStart; the guest mounts its root
/// from /dev/vda and runs a command; then SendCtrlAltDel reaches the guest's keyboard driver, Linux restarts through
/// the i8042 (reboot=k) and vessel exits as on a reset. One boot: ~40 s of emulated CPU.</summary>
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
            using var session = new GuestSession(["--api-sock", socket, "--backend", "emu"]);
            using var client = UnixHttp(socket);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (!File.Exists(socket) && DateTime.UtcNow < deadline) Thread.Sleep(20);

            var started = Stopwatch.StartNew();
            await Put(client, "/logger", $$"""{"log_path": "{{log}}", "level": "Info", "show_level": true, "show_log_origin": true}""");
            await Put(client, "/boot-source", $$"""{"kernel_image_path": "{{guest.Kernel}}", "initrd_path": "{{guest.Initrd}}", "boot_args": "console=ttyS0 reboot=k panic=1 nokaslr acpi=off"}""");
            await Put(client, "/drives/rootfs", $$"""{"drive_id": "rootfs", "path_on_host": "{{root}}", "is_root_device": true, "is_read_only": false}""");
            await Put(client, "/machine-config", """{"vcpu_count": 1, "mem_size_mib": 256}""");
            await Put(client, "/actions", """{"action_type": "InstanceStart"}""");

            Assert.Contains("/dev/vda", session.WaitFor("VESSEL-ROOT-READY", BootTimeout) + session.WaitFor("# ", CommandTimeout));
            output.WriteLine($"root shell after {started.Elapsed.TotalSeconds:F1} s");
            Assert.Contains("/dev/vda / ext4 rw", session.Run("cat /proc/mounts", CommandTimeout));
            Assert.Contains("root=/dev/vda rw", session.Run("cat /proc/cmdline", CommandTimeout));

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
