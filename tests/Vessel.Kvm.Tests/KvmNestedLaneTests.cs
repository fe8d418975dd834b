using System.Diagnostics;

namespace Vessel.Kvm.Tests;

/// <summary>The kvm backend for real: scripts/kvm-nested-lane.sh boots Debian's kernel in QEMU (TCG, AMD SVM
/// exposed) with KVM loaded as a nested hypervisor, and runs `vessel run --backend kvm` there on a boot
/// sector that prints a line with REP OUTSB and exits through isa-debug-exit. Takes minutes: .ci/run runs it
/// as its own step (Category=KvmNested).</summary>
public sealed class KvmNestedLaneTests
{
    [Fact]
    [Trait("Category", "KvmNested")]
    public async Task VesselRunsATinyGuestOnNestedKvm()
    {
        string repo = FindRepository();
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(repo, "scripts", "kvm-nested-lane.sh"));
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        string log = stdout + await stderr;
        Assert.True(process.ExitCode == 0, $"kvm-nested-lane.sh exited {process.ExitCode}:\n{log}");
        Assert.Contains("LANE: /dev/kvm present", log);
        Assert.Contains("using the kvm backend", log);
        Assert.Contains("vessel-kvm-ok", log);
        Assert.Contains("LANE-VESSEL-EXIT=3", log);
    }

    private static string FindRepository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Vessel.slnx"))) return dir.FullName;
        throw new InvalidOperationException("cannot find the repository (Vessel.slnx) above " + AppContext.BaseDirectory);
    }
}
