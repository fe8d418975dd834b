using Vessel.Devices;

namespace Vessel.Vmm;

/// <summary>COM1's receiver as the console sees it: offers take what fits and say how much, and a console with
/// bytes left over waits for the guest to drain some instead of queueing them (input backpressure).
/// Thread-safe; one console thread offers at a time.</summary>
public sealed class SerialInput
{
    private readonly Func<ReadOnlySpan<byte>, int> _receive;
    private readonly Action _break;
    private readonly ManualResetEventSlim _space = new(true);

    public SerialInput(Func<ReadOnlySpan<byte>, int> receive, Action sendBreak)
    {
        _receive = receive;
        _break = sendBreak;
    }

    /// <summary>COM1 of the standard PC devices; the UART calls <see cref="SignalSpace"/>.</summary>
    internal static SerialInput For(Uart16550 uart) => new(uart.Receive, uart.ReceiveBreak);

    /// <summary>Hands <paramref name="bytes"/> to the receiver and returns how many it took.</summary>
    public int Offer(ReadOnlySpan<byte> bytes)
    {
        // Reset before offering: a drain that happens after the offer refused bytes sets it again, so a
        // following WaitForSpace cannot miss it.
        _space.Reset();
        int taken = _receive(bytes);
        if (taken == bytes.Length) _space.Set();
        return taken;
    }

    public void SendBreak() => _break();

    /// <summary>Waits until the guest has drained input since the last short offer; false on timeout.</summary>
    public bool WaitForSpace(TimeSpan timeout) => _space.Wait(timeout);

    /// <summary>The receiver's drain notification (under the device lock: it only sets an event).</summary>
    public void SignalSpace() => _space.Set();
}
