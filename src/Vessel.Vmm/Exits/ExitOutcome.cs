namespace Vessel.Vmm.Exits;

public enum ExitAction
{
    /// <summary>Run the vCPU again.</summary>
    Continue,
    /// <summary>The vCPU halted with interrupts off: nothing will wake it, park it.</summary>
    Park,
    /// <summary>The vCPU was kicked: look at pause and stop requests before running it again.</summary>
    CheckRequests,
    /// <summary>The VM ends with <see cref="ExitOutcome.Exit"/>.</summary>
    StopMachine,
}

/// <summary>What the run loop does after one exit.</summary>
public readonly record struct ExitOutcome(ExitAction Action, MachineExit? Exit = null)
{
    // Built where used, not read from static readonly fields: a static struct holding a reference is boxed
    // on the heap, one more page touched on every exit.
    public static ExitOutcome Continue => new(ExitAction.Continue);
    public static ExitOutcome Park => new(ExitAction.Park);
    public static ExitOutcome CheckRequests => new(ExitAction.CheckRequests);
    public static ExitOutcome Stop(MachineExit exit) => new(ExitAction.StopMachine, exit);
}
