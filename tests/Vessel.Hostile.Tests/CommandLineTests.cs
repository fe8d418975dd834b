using Vessel.Cli;

namespace Vessel.Hostile.Tests;

/// <summary>What the cmdline fuzz target found: "@..." arguments were response files that System.CommandLine
/// read whole, so "@/" threw out of the parser (an internal error) and "@/dev/zero" read until memory ran out.</summary>
[Trait("Category", "Hostile")]
public class CommandLineTests
{
    [Theory]
    [InlineData("@/")]
    [InlineData("@/dev/zero")]
    [InlineData("@/proc/self/mem")]
    public void An_at_argument_is_a_usage_error_not_a_file_read(string argument)
    {
        var error = Assert.Throws<CliException>(() => VesselCli.ParseRun(["run", argument]));
        Assert.Contains(argument, error.Message);
    }

    [Fact]
    public void Through_the_whole_cli_it_is_one_vessel_line_with_exit_code_2()
    {
        var stderr = new MemoryStream();
        int code = VesselCli.Run(["run", "@/dev/zero"], new MemoryStream(), new MemoryStream(), stderr, new CliHost { HandleSignals = false });
        Assert.Equal(CliException.UsageExitCode, code);
        string text = System.Text.Encoding.UTF8.GetString(stderr.ToArray());
        Assert.StartsWith("vessel: ", text);
        Assert.DoesNotContain("internal error", text);
    }
}
