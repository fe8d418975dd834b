using Vessel.Hypervisor;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>The run loop's side of events: when a pending interrupt or NMI is taken, and faults handed to
/// <see cref="EventDelivery"/> (counted by the profiler).</summary>
internal sealed partial class X86Cpu
{
    /// <summary>RESET/INIT: NMIs unblocked, no pending single-step trap.</summary>
    private void ResetEventDelivery()
    {
        _events.NmiBlocked = false;
        SingleStepForced = false;
    }

    /// <summary>Delivers a fault raised by an instruction (RIP already at the instruction).</summary>
    internal void DeliverFault(CpuFault f) => DeliverEvent(f.FaultVector, InterruptSource.Exception, f.HasErrorCode, f.ErrorCode);

    /// <summary>Delivers an interrupt or exception (see <see cref="EventDelivery.Deliver"/>).</summary>
    internal void DeliverEvent(int vector, InterruptSource source, bool hasErrorCode, uint errorCode)
    {
        if (EmuProfiler.Enabled)
        {
            ProfMode = (byte)ProfileMode.Deliver;
            if (source == InterruptSource.External) Counters.Interrupts++; else Counters.Faults++;
            if (vector == Vector.PF) Counters.PageFaults++;
        }
        if (_events.Deliver(vector, source, hasErrorCode, errorCode)) Prof(ProfileMode.Loop);
    }

    /// <summary>Delivers a pending NMI, or an external interrupt when RFLAGS.IF allows and no STI/MOV SS
    /// shadow is in effect; true when one was delivered.</summary>
    internal bool DeliverPendingInterrupt()
    {
        IInterruptController? controller = InterruptController;
        if (controller == null || !controller.HasPendingEvent || InterruptShadow) return false;
        if (!_events.NmiBlocked && controller.TakeNmi())
        {
            DeliverEvent(Vector.NMI, InterruptSource.Nmi, false, 0);
            return true;
        }
        if ((_rflags & If) == 0) return false;
        int vector = controller.AcknowledgeInterrupt();
        if (vector < 0) return false;
        DeliverEvent(vector, InterruptSource.External, false, 0);
        return true;
    }
}
