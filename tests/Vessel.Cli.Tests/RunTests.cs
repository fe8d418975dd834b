namespace Vessel.Cli.Tests;

/// <summary>`vessel run` end to end on the emu backend with a tiny boot-sector guest.</summary>
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

    [Fact]
    public void AutoBackendSaysItUsesEmuAtInfoLevel()
    {
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        var result = CliRunner.Run("run", "--kernel", kernel.Path, "--log-level", "info");
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("using the emu backend", result.Stderr);
        Assert.All(result.StderrLines, line => Assert.StartsWith("vessel: ", line));
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
        var host = new CliHost { HandleSignals = false, CreateBackend = (choice, logger) => Backends.Create(choice, logger, "/dev/null") };
        var result = CliRunner.Run(["run", "--kernel", kernel.Path], stdin: [], host);
        Assert.Equal(3, result.ExitCode);
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith("vessel: ", line);
        Assert.Contains("/dev/null is not a KVM device", line);
        Assert.EndsWith("; using the emu backend", line);
        Assert.Equal("hi", result.Stdout);
    }
}
