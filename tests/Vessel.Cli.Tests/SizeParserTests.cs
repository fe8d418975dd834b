using Vessel.Cli.Options;

namespace Vessel.Cli.Tests;

public class SizeParserTests
{
    [Theory]
    [InlineData("512M", 512UL << 20)]
    [InlineData("1G", 1UL << 30)]
    [InlineData("1g", 1UL << 30)]
    [InlineData("2048K", 2UL << 20)]
    [InlineData("1048576", 1UL << 20)]
    [InlineData("1GiB", 1UL << 30)]
    [InlineData("64MB", 64UL << 20)]
    [InlineData("4096B", 4096UL)]
    [InlineData("2T", 2UL << 40)]
    public void Parses(string text, ulong expected)
    {
        Assert.True(SizeParser.TryParse(text, out ulong bytes));
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("M")]
    [InlineData("1.5G")]
    [InlineData("1 G B")]
    [InlineData("512iB")]
    [InlineData("0x100000")]
    [InlineData("17179869184T")]
    public void Refuses(string text) => Assert.False(SizeParser.TryParse(text, out _));
}
