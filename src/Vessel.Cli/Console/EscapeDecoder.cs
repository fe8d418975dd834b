namespace Vessel.Cli.Console;

/// <summary>QEMU's console escapes on a terminal: Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A b
/// sends a break, Ctrl-A h prints help; any other key after Ctrl-A is dropped.</summary>
public sealed class EscapeDecoder
{
    public const byte CtrlA = 0x01;

    private bool _escape;

    public enum Command { None, Quit, Help, Break }

    /// <summary>Copies the bytes meant for the guest from <paramref name="input"/> to <paramref name="toGuest"/>
    /// (at least as long) and returns how many, stopping at a command.</summary>
    public int Decode(ReadOnlySpan<byte> input, Span<byte> toGuest, out Command command, out int consumed)
    {
        int n = 0;
        command = Command.None;
        for (consumed = 0; consumed < input.Length;)
        {
            byte b = input[consumed++];
            if (!_escape)
            {
                if (b == CtrlA) _escape = true;
                else toGuest[n++] = b;
                continue;
            }
            _escape = false;
            switch (b)
            {
                case CtrlA: toGuest[n++] = CtrlA; break;
                case (byte)'x' or (byte)'X': command = Command.Quit; return n;
                case (byte)'h' or (byte)'H' or (byte)'?': command = Command.Help; return n;
                case (byte)'b' or (byte)'B': command = Command.Break; return n;
            }
        }
        return n;
    }

    public const string HelpText = "C-a h    print this help\r\nC-a x    exit vessel\r\nC-a b    send break\r\nC-a C-a  sends C-a\r\n";
}
