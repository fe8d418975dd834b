using Vessel.Vmm;

namespace Vessel.Cli.Console;

/// <summary>The console pump's view of a running machine: COM1's receiver (or hvc0's, whose send waits until the
/// guest took everything), and Ctrl-A x as a stop request.</summary>
internal sealed class MachineConsole(Machine machine, bool virtioConsole = false) : IConsoleGuest
{
    public int Send(ReadOnlySpan<byte> bytes)
    {
        if (!virtioConsole) return machine.SendToSerial(bytes);
        machine.SendToVirtioConsole(bytes);
        return bytes.Length;
    }

    public bool WaitForSpace(TimeSpan timeout) => virtioConsole || machine.WaitForSerialInputSpace(timeout);

    public void SendBreak() => machine.SendSerialBreak();

    public void Quit() => machine.RequestStop(MachineExit.Stopped("terminated by Ctrl-A x"));
}
