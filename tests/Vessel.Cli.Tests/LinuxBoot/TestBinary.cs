namespace Vessel.Cli.Tests.LinuxBoot;

/// <summary>Which `vessel` the Debian-guest tests run. VESSEL_TEST_BINARY names an executable (the NativeAOT
/// publish .ci/run makes): then every test starts it as a child process, so the LinuxBoot category checks that
/// binary. Without it, <see cref="GuestSession"/> runs the CLI in this process (the framework build) and
/// <see cref="VesselProcess"/> starts the apphost built next to the tests.</summary>
internal static class TestBinary
{
    public const string EnvironmentVariable = "VESSEL_TEST_BINARY";

    /// <summary>The binary VESSEL_TEST_BINARY names, or null; a name that is not a file fails the test at once
    /// rather than quietly testing the in-process build.</summary>
    public static string? Configured
    {
        get
        {
            string? path = Environment.GetEnvironmentVariable(EnvironmentVariable);
            if (string.IsNullOrEmpty(path)) return null;
            if (!File.Exists(path)) throw new FileNotFoundException($"{EnvironmentVariable}={path} is not a file", path);
            return Path.GetFullPath(path);
        }
    }

    /// <summary>The executable a test that needs a process of its own starts.</summary>
    public static string ForChildProcess => Configured ?? Path.Combine(AppContext.BaseDirectory, "vessel");
}
