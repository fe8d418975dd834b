using Vessel.Cli.Options;

namespace Vessel.Cli.Tests;

public class DiskOptionTests
{
    [Theory]
    [InlineData("/img/a.raw", "/img/a.raw", false, null)]
    [InlineData("a.raw,readonly", "a.raw", true, null)]
    [InlineData("a.raw,id=root", "a.raw", false, "root")]
    [InlineData("a.raw,id=data,readonly", "a.raw", true, "data")]
    public void ParsesPathFlagsAndId(string text, string path, bool readOnly, string? id) =>
        Assert.Equal(new DiskOption(path, readOnly, id), DiskOption.Parse(text));

    [Theory]
    [InlineData(",readonly")]
    [InlineData("a.raw,ro")]
    [InlineData("a.raw,id=")]
    public void RefusesWhatItDoesNotKnow(string text)
    {
        var e = Assert.Throws<CliException>(() => DiskOption.Parse(text));
        Assert.Contains("--disk", e.Message);
    }

    [Fact]
    public void AMissingImageIsOneLineAtStartUp()
    {
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        var result = CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "emu", "--disk", "/nonexistent/disk.img");
        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.StderrLines);
        Assert.Equal("vessel: disk image /nonexistent/disk.img does not exist", line);
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public void AnUnknownDiskFlagIsAUsageError()
    {
        var result = CliRunner.Run("run", "--kernel", "k", "--disk", "a.raw,rw");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("'rw' is not readonly or id=NAME", Assert.Single(result.StderrLines));
    }

    [Fact]
    public void TwoDisksBothReachTheMachineAndTheGuestStillRuns()
    {
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        using var a = CliRunner.File(new byte[4096]);
        using var b = CliRunner.File(new byte[4096]);
        var result = CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "emu", "--disk", a.Path, "--disk", $"{b.Path},readonly,id=b");
        Assert.Equal(3, result.ExitCode); // the boot sector's own exit status
        Assert.Empty(result.StderrLines);
    }
}
