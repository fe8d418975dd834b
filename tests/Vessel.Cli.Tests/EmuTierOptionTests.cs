using Vessel.Cli.Options;
using Vessel.Cpu;
using Vessel.Testing;

namespace Vessel.Cli.Tests;

/// <summary>`--emu-tier` (and VESSEL_EMU_TIER without it): the software CPU's compiled tier for `vessel run` and
/// `vessel --api-sock`.</summary>
public class EmuTierOptionTests
{
    [Theory]
    [InlineData("auto", EmuTier.Automatic)]
    [InlineData("native", EmuTier.Native)]
    [InlineData("interp", EmuTier.Interpreter)]
    public void FlagNamesMapToTiers(string name, EmuTier tier) =>
        Assert.Equal(tier, VesselCli.ParseRun(["run", "--emu-tier", name])!.EmuTier);

    [Fact]
    public void TheFlagWinsOverTheEnvironmentWhichWinsOverAutomatic()
    {
        Assert.Equal(EmuTier.Native, EmuTierOption.Resolve("native", "interp"));
        Assert.Equal(EmuTier.Interpreter, EmuTierOption.Resolve(null, "interp"));
        Assert.Equal(EmuTier.Automatic, EmuTierOption.Resolve(null, null));
        Assert.Equal(EmuTier.Automatic, EmuTierOption.Resolve(null, ""));
    }

    [Fact]
    public void ABadEnvironmentValueIsAUsageErrorNamingTheVariable()
    {
        var error = Assert.Throws<CliException>(() => EmuTierOption.Resolve(null, "fast"));
        Assert.Equal(CliException.UsageExitCode, error.ExitCode);
        Assert.Equal("VESSEL_EMU_TIER 'fast' is not one of auto, native, interp", error.Message);
    }

    /// <summary>The retired IL tier's name is an error that says so, from the flag or the environment, and names what
    /// is left; never a silent fall-back to another tier.</summary>
    [Fact]
    public void TheRetiredIlTierIsAUsageErrorSayingSo()
    {
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        var result = CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "emu", "--emu-tier", "il");
        Assert.Equal(2, result.ExitCode);
        Assert.Equal("vessel: --emu-tier 'il': the IL tier was retired (16- and 32-bit code is interpreted, 64-bit code translated by the native tier); choose one of auto, native, interp",
            Assert.Single(result.StderrLines));
        Assert.Equal("", result.Stdout);

        var error = Assert.Throws<CliException>(() => EmuTierOption.Resolve(null, "il"));
        Assert.Equal(CliException.UsageExitCode, error.ExitCode);
        Assert.StartsWith("VESSEL_EMU_TIER 'il': the IL tier was retired", error.Message);
    }

    [Theory]
    [InlineData("fast")]
    [InlineData("IL")]
    [InlineData("")]
    public void ABadFlagValueIsOneUsageLine(string name)
    {
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        var result = CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "emu", "--emu-tier", name);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"vessel: --emu-tier '{name}' is not one of auto, native, interp", Assert.Single(result.StderrLines));
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public void TheApiServersFlagIsCheckedToo()
    {
        var result = CliRunner.Run("--api-sock", Path.Combine(Path.GetTempPath(), $"vessel-{Guid.NewGuid():N}.sock"), "--emu-tier", "jit");
        Assert.Equal(2, result.ExitCode);
        Assert.Equal("vessel: --emu-tier 'jit' is not one of auto, native, interp", Assert.Single(result.StderrLines));
    }

    /// <summary>The flag reaches the emu backend (its debug line names the tier it resolved) and the guest runs on
    /// every tier.</summary>
    [Theory]
    [InlineData("auto", "Native")]
    [InlineData("native", "Native")]
    [InlineData("interp", "Interpreter")]
    public void TheChosenTierRunsTheGuest(string name, string resolved)
    {
        using var kernel = CliRunner.File(BootSectors.HiThenExit3());
        var result = CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "emu", "--emu-tier", name, "--log-level", "debug");
        Assert.Equal(3, result.ExitCode);
        Assert.Equal("hi", result.Stdout);
        Assert.Contains($"vessel: debug: emu tier: {resolved}", result.StderrLines);
    }

    [Fact]
    public void RunHelpDescribesTheFlag()
    {
        var result = CliRunner.Run("run", "--help");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("--emu-tier", result.Stdout);
        Assert.Contains("auto (native), native", result.Stdout);
    }

    [Fact]
    public void AutomaticIsTheNativeTier() => Assert.Equal(EmuTier.Native, new EmuOptions().ResolvedTier);
}
