using Vessel.Cli.Options;

namespace Vessel.Cli.Tests;

public class SizeParserTests
{
    [Theory]
    [InlineData("512M", 512UL << 20)]
    [InlineData("1G", 1UL << 30)]
    [InlineData("1g", 1UL << 30)]
    [InlineData("2048K", 2UL << 20)]
    [InlineData("1048576B", 1UL << 20)]
    [InlineData("1GiB", 1UL << 30)]
    [InlineData("64MB", 64UL << 20)]
    [InlineData("4096B", 4096UL)]
    [InlineData("2T", 2UL << 40)]
    public void Parses(string text, ulong expected)
    {
        Assert.True(SizeParser.TryParse(text, SizeParser.Bytes, out ulong bytes));
        Assert.Equal(expected, bytes);
    }

    /// <summary>A bare number counts in the caller's unit: MiB for --memory, as QEMU's -m.</summary>
    [Theory]
    [InlineData("512", 512UL << 20)]
    [InlineData("1", 1UL << 20)]
    [InlineData("2G", 2UL << 30)]
    [InlineData("4096B", 4096UL)]
    public void ABareNumberTakesTheCallersUnit(string text, ulong expected)
    {
        Assert.True(SizeParser.TryParse(text, SizeParser.MiB, out ulong bytes));
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("18446744073709551615")]   // fits 64 bits as bytes, not as MiB
    [InlineData("17592186044416")]         // 2^44 MiB = 2^64 bytes
    [InlineData("16777216T")]
    public void OverflowIsRefusedNotWrapped(string text) => Assert.False(SizeParser.TryParse(text, SizeParser.MiB, out _));

    [Theory]
    [InlineData("")]
    [InlineData("M")]
    [InlineData("1.5G")]
    [InlineData("1 G B")]
    [InlineData("512iB")]
    [InlineData("0x100000")]
    [InlineData("17179869184T")]
    public void Refuses(string text) => Assert.False(SizeParser.TryParse(text, SizeParser.Bytes, out _));
}
