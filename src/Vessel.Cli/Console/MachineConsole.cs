using Vessel.Vmm;

namespace Vessel.Cli.Console;

/// <summary>The console pump's view of a running machine: COM1's receiver, and Ctrl-A x as a stop request.</summary>
internal sealed class MachineConsole(Machine machine) : IConsoleGuest
{
    public int Send(ReadOnlySpan<byte> bytes) => machine.SendToSerial(bytes);

    public bool WaitForSpace(TimeSpan timeout) => machine.WaitForSerialInputSpace(timeout);

    public void SendBreak() => machine.SendSerialBreak();

    public void Quit() => machine.RequestStop(MachineExit.Stopped("terminated by Ctrl-A x"));
}
