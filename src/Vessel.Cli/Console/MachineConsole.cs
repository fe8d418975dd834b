using Vessel.Vmm;

namespace Vessel.Cli.Console;

/// <summary>The console pump's view of a running machine: the receiver of the console on the terminal (COM1, or
/// hvc0 with <paramref name="virtioConsole"/>), and Ctrl-A x as a stop request. A break goes to COM1 either way:
/// virtio-console has no break.</summary>
internal sealed class MachineConsole(Machine machine, bool virtioConsole) : IConsoleGuest
{
    public int Send(ReadOnlySpan<byte> bytes) =>
        virtioConsole ? machine.SendToVirtioConsole(bytes) : machine.SendToSerial(bytes);

    public bool WaitForSpace(TimeSpan timeout) =>
        virtioConsole ? machine.WaitForVirtioConsoleInputSpace(timeout) : machine.WaitForSerialInputSpace(timeout);

    public void SendBreak() => machine.SendSerialBreak();

    public void Quit() => machine.RequestStop(MachineExit.Stopped("terminated by Ctrl-A x"));
}
