using System.CommandLine;
using Vessel.Cpu;

namespace Vessel.Cli.Options;

/// <summary>`--emu-tier auto|native|interp`: which tier of the software CPU compiles hot guest code. Without the
/// flag, VESSEL_EMU_TIER (same names) decides, so a script or a test run can pick the tier of every vessel it starts;
/// the flag wins over it. The kvm backend ignores both.</summary>
public static class EmuTierOption
{
    public const string EnvironmentVariable = "VESSEL_EMU_TIER";

    public static Option<string?> Create() => new("--emu-tier")
    {
        Description = "The emu backend's compiler: auto (native), native (64-bit code to host code; 16/32-bit code interpreted), interp (none). Default: $VESSEL_EMU_TIER, else auto",
    };

    /// <summary>The flag's value, else the environment's, else automatic; a bad value of either is a usage error
    /// naming where it came from.</summary>
    public static EmuTier Resolve(string? flag, string? environment) =>
        flag is not null ? Parse(flag, "--emu-tier")
        : string.IsNullOrEmpty(environment) ? EmuTier.Automatic
        : Parse(environment, EnvironmentVariable);

    public static EmuTier Resolve(string? flag) => Resolve(flag, Environment.GetEnvironmentVariable(EnvironmentVariable));

    public static EmuTier Parse(string text, string source) => text switch
    {
        "auto" => EmuTier.Automatic,
        "native" => EmuTier.Native,
        "interp" => EmuTier.Interpreter,
        // Named apart from a typo: a script written for the old tier learns why it stopped working.
        "il" => throw CliException.Usage($"{source} 'il': the IL tier was retired (16- and 32-bit code is interpreted, 64-bit code translated by the native tier); choose one of {Choices}"),
        _ => throw CliException.Usage($"{source} '{text}' is not one of {Choices}"),
    };

    private const string Choices = "auto, native, interp";
}
