using System.Diagnostics;
using Xunit.Abstractions;

namespace Vessel.Cli.Tests.LinuxBoot;

/// <summary>Debian's kernel on the emu backend finds virtio-blk disks on Vessel's PCI bus and uses them for
/// real: an ext4 image the test made is mounted and read, a file the guest writes and syncs is on the host
/// after vessel exits (without an unmount), and a read-only disk refuses writes. A second test boots from the
/// root disk build-guest.sh makes, twice, and finds its own file again.
/// Each boot costs ~40 s or more of emulated CPU, so one boot checks as much as it can.</summary>
[Trait("Category", "LinuxBoot")]
public class VirtioDiskTests(ITestOutputHelper output)
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(8);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(2);
    private const string Marker = "VESSEL-GUEST-READY", RootMarker = "VESSEL-ROOT-READY";

    [Fact]
    public void GuestMountsReadsAndWritesAnExt4DiskAndAReadOnlyDiskRefusesWrites()
    {
        var guest = DefaultGuest.Ensure(TextWriter.Null);
        string work = Directory.CreateTempSubdirectory("vessel-virtio-").FullName;
        try
        {
            string tree = Path.Combine(work, "tree");
            Directory.CreateDirectory(tree);
            string hostText = $"from the host {Guid.NewGuid():N}";
            File.WriteAllText(Path.Combine(tree, "hello.txt"), hostText + "\n");
            string data = Path.Combine(work, "data.ext4");
            E2fsTools.MakeExt4(data, tree);

            string readOnly = Path.Combine(work, "ro.img");
            var pattern = new byte[1 << 20];
            "VESSEL-RO-DISK"u8.CopyTo(pattern);
            File.WriteAllBytes(readOnly, pattern);

            var started = Stopwatch.StartNew();
            using var session = new GuestSession(
            [
                "run", "--backend", "emu", "--kernel", guest.Kernel, "--initrd", guest.Initrd,
                "--append", DefaultGuest.CommandLine, "--memory", "512M",
                "--disk", $"{data},id=data", "--disk", $"{readOnly},readonly",
            ]);
            session.WaitFor(Marker, BootTimeout);
            output.WriteLine($"marker after {started.Elapsed.TotalSeconds:F1} s");
            session.WaitFor("# ", CommandTimeout);

            // Two disks, in --disk order, the second read-only; both over MSI-X, one vector per queue.
            string blocks = session.Run("ls /sys/block; cat /sys/block/vda/ro /sys/block/vdb/ro /sys/block/vda/serial", CommandTimeout);
            output.WriteLine(blocks);
            Assert.Contains("vda", blocks);
            Assert.Contains("vdb", blocks);
            Assert.Matches(@"\b0\s+1\s+data\b", blocks);
            string interrupts = session.Run("grep virtio /proc/interrupts", CommandTimeout);
            output.WriteLine(interrupts);
            Assert.Contains("PCI-MSI", interrupts);
            Assert.Contains("virtio0-req.0", interrupts);

            string mounted = session.Run("mkdir -p /mnt && mount -t ext4 /dev/vda /mnt && cat /mnt/hello.txt", CommandTimeout);
            Assert.Contains(hostText, mounted);
            string written = session.Run("echo written-in-the-guest > /mnt/from-guest.txt && sync && echo synced", CommandTimeout);
            Assert.Contains("synced", written.Replace("echo synced", ""));

            Assert.Contains("VESSEL-RO-DISK", session.Run("head -c 14 /dev/vdb; echo", CommandTimeout));
            string refused = session.Run("dd if=/dev/zero of=/dev/vdb bs=512 count=1 oflag=direct 2>&1; echo dd=$?", CommandTimeout);
            output.WriteLine(refused);
            Assert.Contains("dd=1", refused);

            // No unmount: what sync flushed must be on the host when vessel is gone.
            session.Type("reboot -f\n");
            Assert.True(session.WaitForExit(CommandTimeout), "vessel did not exit after reboot -f");
            Assert.Equal(0, session.ExitCode);
            Assert.DoesNotContain("NEEDS_RESET", session.Stderr);

            Assert.InRange(E2fsTools.Check(data, repair: true), 0, 1); // replays the journal sync committed
            Assert.Equal(0, E2fsTools.Check(data, repair: false));
            Assert.Equal("written-in-the-guest\n", E2fsTools.ReadFile(data, "/from-guest.txt"));
            Assert.Equal(pattern, File.ReadAllBytes(readOnly));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public void GuestBootsFromTheRootDiskAndItsFilesSurviveAReboot()
    {
        var guest = DefaultGuest.Ensure(TextWriter.Null);
        string rootfs = Path.Combine(Path.GetDirectoryName(guest.Kernel)!, "rootfs.ext4");
        Assert.True(File.Exists(rootfs), $"{rootfs} is missing: scripts/build-guest.sh builds it");
        string work = Directory.CreateTempSubdirectory("vessel-root-").FullName;
        try
        {
            string root = Path.Combine(work, "root.img");
            File.Copy(rootfs, root);
            string stamp = Guid.NewGuid().ToString("N");
            string[] args =
            [
                "run", "--backend", "emu", "--kernel", guest.Kernel, "--initrd", guest.Initrd,
                "--append", DefaultGuest.CommandLine + " root=/dev/vda", "--memory", "256M", "--disk", root,
            ];

            using (var first = new GuestSession(args))
            {
                Assert.Contains("/dev/vda", first.WaitFor(RootMarker, BootTimeout) + first.WaitFor("# ", CommandTimeout));
                first.Run($"echo {stamp} > /root/stamp && sync", CommandTimeout);
                first.Type("reboot -f\n");
                Assert.True(first.WaitForExit(CommandTimeout), "vessel did not exit after reboot -f");
            }
            using (var second = new GuestSession(args))
            {
                second.WaitFor(RootMarker, BootTimeout);
                second.WaitFor("# ", CommandTimeout);
                Assert.Contains(stamp, second.Run("cat /root/stamp", CommandTimeout));
                Assert.Contains("/dev/vda / ext4 rw", second.Run("cat /proc/mounts", CommandTimeout));
                second.Type("reboot -f\n");
                Assert.True(second.WaitForExit(CommandTimeout), "vessel did not exit after reboot -f");
                Assert.Equal(0, second.ExitCode);
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
