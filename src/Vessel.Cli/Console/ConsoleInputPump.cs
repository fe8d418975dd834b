namespace Vessel.Cli.Console;

/// <summary>A background thread that reads the console's input and hands it to the guest's serial port as it
/// arrives. On a terminal it decodes the Ctrl-A escapes; otherwise bytes pass through untouched. EOF ends the
/// input, not the VM.
/// Backpressure: bytes the guest has no room for are held (at most one read's worth) and no more is read until
/// it drains some, so a guest that does not read COM1 makes the host side wait instead of the VMM queue. On a
/// terminal the pump keeps watching the keyboard meanwhile, so Ctrl-A x still quits; keys typed while the
/// guest is not reading and its buffer is full are dropped, and counted.</summary>
public sealed class ConsoleInputPump
{
    private static readonly TimeSpan SpacePoll = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan KeyPoll = TimeSpan.FromMilliseconds(20);
    private const int ReadSize = 256;

    private readonly Stream _input;
    private readonly EscapeDecoder? _escapes;
    private readonly IConsoleGuest _guest;
    private readonly TextWriter _help;
    private readonly Thread _thread;
    private readonly byte[] _pending = new byte[ReadSize];
    private int _pendingStart, _pendingCount;
    private volatile bool _stopped;
    private long _droppedKeys;

    public ConsoleInputPump(Stream input, bool decodeEscapes, IConsoleGuest guest, TextWriter help)
    {
        _input = input;
        _escapes = decodeEscapes ? new EscapeDecoder() : null;
        _guest = guest;
        _help = help;
        _thread = new Thread(Pump) { Name = "console input", IsBackground = true };
    }

    /// <summary>Keys dropped on a terminal because the guest was not reading and its input buffer was full.</summary>
    public long DroppedKeys => Interlocked.Read(ref _droppedKeys);

    public void Start() => _thread.Start();

    /// <summary>Stops forwarding; a read in progress is abandoned (an <see cref="FdInputStream"/> is cancelled).</summary>
    public void Stop()
    {
        _stopped = true;
        (_input as FdInputStream)?.Cancel();
    }

    /// <summary>Waits for the thread (it ends by itself at EOF or a quit); for tests.</summary>
    public bool Join(TimeSpan timeout) => _thread.Join(timeout);

    private void Pump()
    {
        var buffer = new byte[ReadSize];
        try
        {
            while (!_stopped)
            {
                if (_pendingCount > 0 && !DeliverPending()) continue;
                int read = _input.Read(buffer, 0, buffer.Length);
                if (read <= 0 || _stopped) return;
                if (!Forward(buffer.AsSpan(0, read))) return;
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The console went away; the guest simply gets no more input.
        }
    }

    /// <summary>Offers the held bytes; when some remain, waits a while for the guest to drain them (watching the
    /// keyboard on a terminal). True when all are delivered.</summary>
    private bool DeliverPending()
    {
        int taken = _guest.Send(_pending.AsSpan(_pendingStart, _pendingCount));
        _pendingStart += taken;
        _pendingCount -= taken;
        if (_pendingCount == 0) return true;
        if (_escapes is not null && _input is FdInputStream terminal)
        {
            if (!_guest.WaitForSpace(KeyPoll) && terminal.WaitReadable(TimeSpan.Zero)) WatchKeysWhileFull(terminal);
        }
        else
        {
            _guest.WaitForSpace(SpacePoll);
        }
        return false;
    }

    /// <summary>A key arrived while the guest holds no more: decode it for escapes; anything for the guest is dropped.</summary>
    private void WatchKeysWhileFull(FdInputStream terminal)
    {
        Span<byte> keys = stackalloc byte[ReadSize];
        Span<byte> toGuest = stackalloc byte[ReadSize];
        int read = terminal.Read(keys);
        if (read <= 0)
        {
            _stopped = true;
            return;
        }
        ReadOnlySpan<byte> input = keys[..read];
        while (!input.IsEmpty)
        {
            int n = _escapes!.Decode(input, toGuest, out var command, out int consumed);
            Interlocked.Add(ref _droppedKeys, n);
            input = input[consumed..];
            if (!Obey(command)) return;
        }
    }

    /// <summary>Holds <paramref name="bytes"/> (at most one read) and delivers what the guest takes now.</summary>
    private void Hold(ReadOnlySpan<byte> bytes)
    {
        if (_pendingCount > 0 && _pendingStart > 0)
        {
            _pending.AsSpan(_pendingStart, _pendingCount).CopyTo(_pending);
        }
        _pendingStart = 0;
        bytes.CopyTo(_pending.AsSpan(_pendingCount));
        _pendingCount += bytes.Length;
        while (_pendingCount > 0 && !_stopped && !DeliverPending()) { }
    }

    private bool Forward(ReadOnlySpan<byte> input)
    {
        if (_escapes is null)
        {
            Hold(input);
            return true;
        }
        Span<byte> toGuest = stackalloc byte[ReadSize];
        while (!input.IsEmpty && !_stopped)
        {
            int n = _escapes.Decode(input, toGuest, out var command, out int consumed);
            if (n > 0) Hold(toGuest[..n]);
            input = input[consumed..];
            if (!Obey(command)) return false;
        }
        return true;
    }

    /// <summary>Carries out an escape command; false when the console is done (quit).</summary>
    private bool Obey(EscapeDecoder.Command command)
    {
        switch (command)
        {
            case EscapeDecoder.Command.Quit:
                _stopped = true;
                _guest.Quit();
                return false;
            case EscapeDecoder.Command.Help:
                _help.Write(EscapeDecoder.HelpText);
                _help.Flush();
                break;
            case EscapeDecoder.Command.Break:
                _guest.SendBreak();
                break;
        }
        return true;
    }
}
