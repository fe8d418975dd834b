namespace Vessel.Cli.Tests;

/// <summary>Boot sectors and multiboot kernels find what a BIOS leaves: the 8259s at vectors 08h/70h with the
/// timer unmasked and the PIT ticking, so a real-mode HLT with interrupts on is woken by IRQ 0.</summary>
public class LegacyFirmwareTests
{
    [Fact]
    public async Task RealModeHaltIsWokenByTheTimerThroughVector8()
    {
        using var kernel = CliRunner.File(BootSectors.TimerWakesHalt());
        // Without the firmware's timer the guest halts for ever: bound the wait so that shows as a failure.
        var run = Task.Run(() => CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "emu", "--memory", "16M"));
        Assert.True(await Task.WhenAny(run, Task.Delay(TimeSpan.FromMinutes(2))) == run, "the halted guest was never woken");
        CliResult result = await run;
        Assert.Equal("", result.Stderr);
        Assert.Equal("T", result.Stdout);
        Assert.Equal(3, result.ExitCode);
    }
}
