namespace Vessel.Cli.Console;

/// <summary>A background thread that reads the console's input and hands it to the guest's serial port.
/// On a terminal it decodes the Ctrl-A escapes; otherwise bytes pass through untouched. EOF ends the input,
/// not the VM. The thread is a background one: a read still blocked when the VM ends does not keep the
/// process alive.</summary>
public sealed class ConsoleInputPump
{
    private readonly Stream _input;
    private readonly EscapeDecoder? _escapes;
    private readonly Action<ReadOnlySpan<byte>> _toGuest;
    private readonly Action _quit;
    private readonly TextWriter _help;
    private readonly Thread _thread;
    private volatile bool _stopped;

    public ConsoleInputPump(Stream input, bool decodeEscapes, Action<ReadOnlySpan<byte>> toGuest, Action quit, TextWriter help)
    {
        _input = input;
        _escapes = decodeEscapes ? new EscapeDecoder() : null;
        _toGuest = toGuest;
        _quit = quit;
        _help = help;
        _thread = new Thread(Pump) { Name = "console input", IsBackground = true };
    }

    public void Start() => _thread.Start();

    /// <summary>Stops forwarding; a read in progress is abandoned, not waited for.</summary>
    public void Stop() => _stopped = true;

    /// <summary>Waits for the thread (it ends by itself at EOF or a quit); for tests.</summary>
    public bool Join(TimeSpan timeout) => _thread.Join(timeout);

    private void Pump()
    {
        var buffer = new byte[256];
        var toGuest = new byte[256];
        try
        {
            while (!_stopped)
            {
                int read = _input.Read(buffer, 0, buffer.Length);
                if (read <= 0 || _stopped) return;
                if (_escapes is null)
                {
                    _toGuest(buffer.AsSpan(0, read));
                    continue;
                }
                if (!Forward(buffer.AsSpan(0, read), toGuest)) return;
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The console went away; the guest simply gets no more input.
        }
    }

    private bool Forward(ReadOnlySpan<byte> input, Span<byte> toGuest)
    {
        while (!input.IsEmpty)
        {
            int n = _escapes!.Decode(input, toGuest, out var command, out int consumed);
            if (n > 0) _toGuest(toGuest[..n]);
            input = input[consumed..];
            switch (command)
            {
                case EscapeDecoder.Command.Quit:
                    _quit();
                    return false;
                case EscapeDecoder.Command.Help:
                    _help.Write(EscapeDecoder.HelpText);
                    _help.Flush();
                    break;
            }
        }
        return true;
    }
}
