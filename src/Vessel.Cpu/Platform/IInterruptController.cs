namespace Vessel.Cpu;

/// <summary>The per-vCPU interrupt controller (the local APIC) as the CPU core sees it. The core asks
/// at instruction boundaries; the controller's other side (IOAPIC, PIC, IPIs, timers) lives in the platform.</summary>
internal interface IInterruptController
{
    /// <summary>Cheap check, read at every block boundary: is anything (interrupt, NMI, INIT, SIPI) pending?</summary>
    bool HasPendingEvent { get; }

    /// <summary>Interrupt acknowledge: if a maskable interrupt is deliverable at the current priority,
    /// marks it in service and returns its vector; else -1. Called only when RFLAGS.IF=1 and no shadow.</summary>
    int AcknowledgeInterrupt();

    /// <summary>Takes a pending NMI, if any.</summary>
    bool TakeNmi();

    /// <summary>Runs timers and other time-driven work; returns the host Stopwatch timestamp at which it
    /// next needs to run (long.MaxValue if never), so a halted vCPU knows how long it may sleep.</summary>
    long Poll(long nowTimestamp);
}
