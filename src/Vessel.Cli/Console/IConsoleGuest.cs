namespace Vessel.Cli.Console;

/// <summary>What the console input pump drives: COM1's receiver and the VM's quit.</summary>
public interface IConsoleGuest
{
    /// <summary>Offers bytes to the guest; returns how many it took.</summary>
    int Send(ReadOnlySpan<byte> bytes);

    /// <summary>Waits until the guest has taken input since the last short <see cref="Send"/>; false on timeout.</summary>
    bool WaitForSpace(TimeSpan timeout);

    void SendBreak();

    /// <summary>Ctrl-A x.</summary>
    void Quit();
}
