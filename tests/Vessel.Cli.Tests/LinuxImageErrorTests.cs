using System.Buffers.Binary;
using System.Text;

namespace Vessel.Cli.Tests;

/// <summary>Bad Linux kernels and options through `vessel run`: one clear line, non-zero exit, no stack trace.</summary>
public class LinuxImageErrorTests
{
    /// <summary>A synthetic bzImage (boot protocol 2.15, 64-bit entry) with 4 setup sectors.</summary>
    private static byte[] BzImage(uint cmdlineSize = 0x7FF, int kernelBytes = 0x3000)
    {
        var image = new byte[5 * 512 + kernelBytes];
        image[0x1F1] = 4;
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(0x1FE), 0xAA55);
        Encoding.ASCII.GetBytes("HdrS", image.AsSpan(0x202));
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(0x206), 0x20F);
        image[0x211] = 1; // LOADED_HIGH
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(0x22C), 0x7FFFFFFF);
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(0x230), 0x200000);
        image[0x234] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(0x236), 0x7F);
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(0x238), cmdlineSize);
        BinaryPrimitives.WriteUInt64LittleEndian(image.AsSpan(0x258), 0x1000000);
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(0x260), 0x200000);
        return image;
    }

    private static void AssertOneLineError(CliResult result, string message)
    {
        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith("vessel: ", line);
        Assert.Contains(message, line, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public void TruncatedBzImage()
    {
        using var kernel = CliRunner.File(BzImage()[..0x300]);
        AssertOneLineError(CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "emu"), "truncated");
    }

    [Fact]
    public void CommandLineLongerThanTheKernelTakes()
    {
        using var kernel = CliRunner.File(BzImage(cmdlineSize: 16));
        AssertOneLineError(CliRunner.Run("run", "--kernel", kernel.Path, "--backend", "emu", "--append", new string('x', 40)),
            "command line");
    }

    [Fact]
    public void InitrdLargerThanRam()
    {
        using var kernel = CliRunner.File(BzImage());
        using var initrd = CliRunner.File(new byte[40 << 20]);
        AssertOneLineError(CliRunner.Run("run", "--kernel", kernel.Path, "--initrd", initrd.Path, "--backend", "emu", "--memory", "32M"),
            "initrd");
    }
}
