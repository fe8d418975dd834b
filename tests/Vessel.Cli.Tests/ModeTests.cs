namespace Vessel.Cli.Tests;

/// <summary>`vessel run` end to end on the emu backend with tiny kernels in each CPU mode: real mode (a boot
/// sector), 32-bit protected mode (ELF32) and 64-bit long mode (ELF64), each printing on COM1 and ending
/// through isa-debug-exit.</summary>
public class ModeTests
{
    [Theory]
    [InlineData(32, "protected\n", 5)]
    [InlineData(64, "long mode\n", 9)]
    public void ElfKernelPrintsAndExitsThroughDebugExit(int bitness, string text, byte value)
    {
        using var kernel = CliRunner.File(TinyElf.PrintThenExit(bitness, text, value));
        var result = CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "emu", "--memory", "16M");
        Assert.Equal("", result.Stderr);
        Assert.Equal(text, result.Stdout);
        Assert.Equal((value << 1) | 1, result.ExitCode);
    }
}
