using System.Diagnostics;
using Xunit.Abstractions;

namespace Vessel.Cli.Tests.LinuxBoot;

/// <summary>Debian's kernel on the emu backend finds virtio devices on Vessel's PCI bus and uses them for
/// real, in one boot: its shell runs on hvc0 (virtio-console, `--console hvc0`), an ext4 image the test made is
/// mounted from vda and read, a file the guest writes and syncs is on the host after vessel exits (without an
/// unmount), the read-only vdb refuses writes, and /dev/hwrng (virtio-rng) gives bytes. A second test boots
/// from the root disk build-guest.sh makes, writes a file, syncs and SIGKILLs vessel; the next boot finds it.
/// Each boot costs ~40 s or more of emulated CPU, so one boot checks as much as it can.</summary>
[Trait("Category", "LinuxBoot")]
[Collection(LinuxGuestCollection.Name)]
public class VirtioDiskTests(ITestOutputHelper output)
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(15); // boots take ~40 s; a loaded shared machine, many minutes
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(2);
    private const string Marker = "VESSEL-GUEST-READY", RootMarker = "VESSEL-ROOT-READY";

    [Fact]
    public void GuestOnHvc0MountsAnExt4DiskWritesThroughAReadOnlyDiskRefusesAndHwrngGivesBytes()
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
                "--append", "console=hvc0 nokaslr acpi=off", "--memory", "512M",
                "--disk", $"{data},id=data", "--disk", $"{readOnly},readonly", "--rng", "--console", "hvc0",
            ]);
            session.WaitFor(Marker, BootTimeout);
            output.WriteLine($"marker after {started.Elapsed.TotalSeconds:F1} s");
            session.WaitFor("# ", CommandTimeout);

            // The terminal's input reaches only hvc0, so every reply below came through the virtio console.
            Assert.Contains("hvc0", session.Run("cat /sys/class/tty/console/active", CommandTimeout));

            // Commands stay under 70 columns: the shell wraps a longer echo and the session would not find it.
            Assert.Contains("virtio_rng", session.Run("cat /sys/class/misc/hw_random/rng_current", CommandTimeout));
            string rng = session.Run("od -An -v -tx1 -N4096 /dev/hwrng | tr -s ' ' '\\n' | sort -u | wc -l", CommandTimeout);
            output.WriteLine(rng);
            // 4 KiB of random bytes use (nearly) all 256 byte values; zeros or a short read would not.
            int distinct = int.Parse(rng.Split('\n', StringSplitOptions.TrimEntries).Last(l => l.Length > 0 && char.IsAsciiDigit(l[0])));
            Assert.InRange(distinct, 240, 257);

            // Two disks, in --disk order, the second read-only; both over MSI-X, one vector per queue.
            string blocks = session.Run("ls /sys/block", CommandTimeout) +
                session.Run("cat /sys/block/vda/ro /sys/block/vdb/ro /sys/block/vda/serial", CommandTimeout);
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
            string written = session.Run("echo written-in-the-guest > /mnt/g.txt && sync && echo synced", CommandTimeout);
            Assert.Contains("synced", written.Replace("echo synced", ""));

            Assert.Contains("VESSEL-RO-DISK", session.Run("head -c 14 /dev/vdb; echo", CommandTimeout));
            string refused = session.Run("dd if=/dev/zero of=/dev/vdb count=1 oflag=direct 2>&1; echo dd=$?", CommandTimeout);
            output.WriteLine(refused);
            Assert.Contains("dd=1", refused);

            // No unmount: what sync flushed must be on the host when vessel is gone.
            session.Type("reboot -f\n");
            Assert.True(session.WaitForExit(CommandTimeout), "vessel did not exit after reboot -f");
            Assert.Equal(0, session.ExitCode);
            Assert.DoesNotContain("NEEDS_RESET", session.Stderr);

            Assert.InRange(E2fsTools.Check(data, repair: true), 0, 1); // replays the journal sync committed
            Assert.Equal(0, E2fsTools.Check(data, repair: false));
            Assert.Equal("written-in-the-guest\n", E2fsTools.ReadFile(data, "/g.txt"));
            Assert.Equal(pattern, File.ReadAllBytes(readOnly));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public void GuestBootsFromTheRootDiskAndWhatItSyncedSurvivesVesselsSigkill()
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

            // The first boot is a child process, SIGKILLed as soon as the guest's sync has returned.
            using (var first = new VesselProcess(args))
            {
                Assert.Contains("/dev/vda", first.WaitFor(RootMarker, BootTimeout) + first.WaitFor("# ", CommandTimeout));
                first.Type($"echo {stamp} > /root/stamp && sync && echo synced-$((6*7))\n");
                first.WaitFor("synced-42", CommandTimeout);
                first.Kill();
                Assert.Equal(137, first.ExitCode);
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
