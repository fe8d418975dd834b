namespace Vessel.Cli.Tests;

/// <summary>`vessel run` end to end with a tiny boot-sector guest, on the emu backend or as --backend auto chooses.</summary>
public class RunTests
{
    [Fact]
    public void GuestOutputGoesToStdoutAndDebugExitSetsTheExitCode()
    {
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        var result = CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "emu", "--memory", "16M");
        Assert.Equal("", result.Stderr);
        Assert.Equal("hi", result.Stdout);
        Assert.Equal(3, result.ExitCode);
    }

    [Fact]
    public void SerialToAFileLeavesStdoutEmpty()
    {
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        string path = Path.Combine(Path.GetTempPath(), $"vessel-serial-{Guid.NewGuid():N}");
        try
        {
            var result = CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "emu", "--serial", $"file:{path}");
            Assert.Equal(3, result.ExitCode);
            Assert.Equal("", result.Stdout);
            Assert.Equal("hi", File.ReadAllText(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>The expectation comes from the machine itself, checked independently of Backends: kvm exactly
    /// when /dev/kvm opens as KVM and the CPU flags list vmx or svm.</summary>
    [Fact]
    public void AutoBackendSaysWhichItChoseAtInfoLevel()
    {
        bool kvmOpens;
        try
        {
            using var kvm = Vessel.Kvm.KvmHypervisor.Open();
            kvmOpens = true;
        }
        catch (Vessel.Kvm.KvmUnavailableException)
        {
            kvmOpens = false;
        }
        bool hardware = System.Text.RegularExpressions.Regex.IsMatch(File.ReadAllText("/proc/cpuinfo"),
            @"^flags\s*:.*\b(vmx|svm)\b", System.Text.RegularExpressions.RegexOptions.Multiline);

        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        var result = CliRunner.Run("run", "--kernel", kernel.Path, "--log-level", "info");
        Assert.Equal(3, result.ExitCode);
        Assert.Equal("hi", result.Stdout);
        Assert.All(result.StderrLines, line => Assert.StartsWith("vessel: ", line));
        string expected = kvmOpens && hardware ? "using the kvm backend" : "using the emu backend";
        string other = kvmOpens && hardware ? "using the emu backend" : "using the kvm backend";
        Assert.Contains(expected, result.StderrLines[0]);
        Assert.DoesNotContain(other, result.Stderr);
    }

    [Fact]
    public void AutoBackendWithoutAKvmDeviceUsesEmuAndSaysSoAtInfoLevel()
    {
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        var facts = new KvmHostFacts("/nonexistent/kvm", () => true);
        var host = new CliHost { HandleSignals = false, CreateBackend = (choice, tier, logger) => Backends.Create(choice, tier, logger, facts) };
        var result = CliRunner.Run(["run", "--kernel", kernel.Path, "--log-level", "info"], stdin: [], host);
        Assert.Equal(3, result.ExitCode);
        Assert.Equal("vessel: info: /nonexistent/kvm does not exist; using the emu backend", result.StderrLines[0]);
        Assert.Equal("hi", result.Stdout);
    }

    [Fact]
    public void HelpPrintsUsageAndSucceeds()
    {
        var result = CliRunner.Run("run", "--help");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("--kernel", result.Stdout);
    }

    [Fact]
    public void AutoBackendSaysWhyAKvmDeviceIsRefusedThenUsesEmu()
    {
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        var facts = new KvmHostFacts("/dev/null", () => true);
        var host = new CliHost { HandleSignals = false, CreateBackend = (choice, tier, logger) => Backends.Create(choice, tier, logger, facts) };
        var result = CliRunner.Run(["run", "--kernel", kernel.Path], stdin: [], host);
        Assert.Equal(3, result.ExitCode);
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith("vessel: warning: ", line);
        Assert.Contains("/dev/null is not a KVM device", line);
        Assert.EndsWith("; using the emu backend", line);
        Assert.Equal("hi", result.Stdout);
    }

    /// <summary>Without VMX/SVM kvm would not be chosen even if it opened, so a refusal is only information.</summary>
    [Fact]
    public void AutoBackendOnACpuWithoutVirtualizationMentionsARefusalOnlyAtInfoLevel()
    {
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        var facts = new KvmHostFacts("/dev/null", () => false);
        var host = new CliHost { HandleSignals = false, CreateBackend = (choice, tier, logger) => Backends.Create(choice, tier, logger, facts) };
        var quiet = CliRunner.Run(["run", "--kernel", kernel.Path], stdin: [], host);
        Assert.Equal(3, quiet.ExitCode);
        Assert.Equal("", quiet.Stderr);
        var verbose = CliRunner.Run(["run", "--kernel", kernel.Path, "--log-level", "info"], stdin: [], host);
        Assert.StartsWith("vessel: info: /dev/null is not a KVM device", verbose.StderrLines[0]);
        Assert.EndsWith("; using the emu backend", verbose.StderrLines[0]);
    }
}
