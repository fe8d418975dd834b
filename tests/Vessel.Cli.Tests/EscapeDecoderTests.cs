using Vessel.Cli.Console;

namespace Vessel.Cli.Tests;

/// <summary>QEMU's console escapes, as the terminal console decodes them.</summary>
public class EscapeDecoderTests
{
    private static (string ToGuest, EscapeDecoder.Command Command, int Consumed) Decode(EscapeDecoder d, string input)
    {
        var bytes = System.Text.Encoding.ASCII.GetBytes(input);
        var toGuest = new byte[bytes.Length];
        int n = d.Decode(bytes, toGuest, out var command, out int consumed);
        return (System.Text.Encoding.ASCII.GetString(toGuest, 0, n), command, consumed);
    }

    [Fact]
    public void CtrlAXQuitsAfterPassingWhatCameBefore()
    {
        var (toGuest, command, consumed) = Decode(new EscapeDecoder(), "ls\r\u0001xmore");
        Assert.Equal("ls\r", toGuest);
        Assert.Equal(EscapeDecoder.Command.Quit, command);
        Assert.Equal(5, consumed);
    }

    [Fact]
    public void CtrlACtrlASendsOneCtrlAAndOtherKeysAfterCtrlAAreDropped()
    {
        var (toGuest, command, _) = Decode(new EscapeDecoder(), "a\u0001\u0001b\u0001qc");
        Assert.Equal("a\u0001bc", toGuest);
        Assert.Equal(EscapeDecoder.Command.None, command);
    }

    [Theory]
    [InlineData("\u0001b", EscapeDecoder.Command.Break)]
    [InlineData("\u0001h", EscapeDecoder.Command.Help)]
    [InlineData("\u0001x", EscapeDecoder.Command.Quit)]
    public void CtrlACommands(string keys, EscapeDecoder.Command expected)
    {
        var (toGuest, command, consumed) = Decode(new EscapeDecoder(), keys + "rest");
        Assert.Equal(expected, command);
        Assert.Equal("", toGuest);
        Assert.Equal(2, consumed);
    }

    [Fact]
    public void ControlKeysOtherThanCtrlAPassUntouched()
    {
        var (toGuest, command, _) = Decode(new EscapeDecoder(), "\u0003\u001a\u001c\u001b[A\t\r");
        Assert.Equal("\u0003\u001a\u001c\u001b[A\t\r", toGuest);
        Assert.Equal(EscapeDecoder.Command.None, command);
    }

    [Fact]
    public void AnEscapeSplitAcrossReadsStillQuits()
    {
        var d = new EscapeDecoder();
        Assert.Equal(EscapeDecoder.Command.None, Decode(d, "x\u0001").Command);
        Assert.Equal(EscapeDecoder.Command.Quit, Decode(d, "x").Command);
    }
}
