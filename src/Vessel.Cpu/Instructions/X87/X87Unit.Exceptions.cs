using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>Delivery of unmasked x87 exceptions. An unmasked exception only sets ES/B in the status word;
/// the next waiting x87 instruction (or WAIT) raises #MF when CR0.NE=1, as hardware does. With CR0.NE=0
/// a PC signals FERR# to IRQ13 through the PIC: that legacy path is not modelled (no exception is raised).</summary>
internal sealed partial class X87Unit
{
    private const ushort ErrorSummary = 0x80, Busy = 0x8000;

    /// <summary>The #NM check of every x87 instruction, then the pending-exception check of waiting ones.</summary>
    private void CheckX87Waiting()
    {
        CheckX87();
        if ((_fsw & ErrorSummary) != 0 && (Cr0 & ControlRegisters.Cr0Ne) != 0) FaultNoCode(Vector.MF);
    }

    /// <summary>ES and B follow the exception flags against the masks, after FLDCW/FLDENV/FRSTOR.</summary>
    private void SyncX87ErrorSummary()
    {
        bool pending = (_fsw & ~_fcw & 0x3F) != 0;
        _fsw = pending ? (ushort)(_fsw | ErrorSummary | Busy) : (ushort)(_fsw & ~(ErrorSummary | Busy));
    }

    /// <summary>FNINIT/FINIT and the reset after FSAVE: control, status, tags and pointers to their initial
    /// values; the register contents stay as they were (only tagged empty), as on hardware.</summary>
    private void ResetX87Control()
    {
        _fcw = 0x37F; _fsw = 0; _ftw = 0; _fop = 0; _fip = 0; _fdp = 0;
    }
}
