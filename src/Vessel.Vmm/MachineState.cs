namespace Vessel.Vmm;

/// <summary>Created → Running ⇄ Paused → Stopped; Stopped is final and reachable from every state.</summary>
public enum MachineState
{
    Created,
    Running,
    Paused,
    Stopped,
}
