using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>RFLAGS.TF single-stepping: the run loop executes one instruction at a time while TF is set and
/// then raises the #DB trap here.</summary>
internal sealed partial class X86Cpu
{
    private const ulong Dr6SingleStep = 1UL << 14;

    /// <summary>Set by an instruction whose trap depends on TF after it rather than before (SYSRET loads TF
    /// from R11 and the trap follows the SYSRET itself).</summary>
    internal bool SingleStepForced;

    /// <summary>Set by a POPF that loaded TF=0 while stepping: unlike INT n or SYSCALL (which clear TF on their
    /// way to a handler, and do not trap), it is an ordinary instruction that began with TF set, and traps.</summary>
    private bool _singleStepClearedByLoad;

    /// <summary>A load cleared TF: the instruction that did it still traps (see <see cref="_singleStepClearedByLoad"/>).</summary>
    internal void NoteTrapFlagClearedByLoad() => _singleStepClearedByLoad = true;

    /// <summary>For SYSRET-like instructions: trap after this instruction if TF is set once it completes.</summary>
    internal void SingleStepAfterThisInstruction()
    {
        SingleStepForced = true;
        BlockEnded = true;
    }

    /// <summary>Raises the single-step #DB after an instruction that began with TF set. No trap when the
    /// instruction itself cleared TF (SYSCALL's flag mask, INT n's and exception delivery): the OS turned
    /// stepping off, and a trap would otherwise land on the first instruction of the handler.</summary>
    internal void SingleStepTrap()
    {
        SingleStepForced = false;
        bool clearedByLoad = _singleStepClearedByLoad;
        _singleStepClearedByLoad = false;
        if ((_rflags & Tf) == 0 && !clearedByLoad) return;
        Dr[6] |= Dr6SingleStep;
        DeliverEvent(Vector.DB, InterruptSource.Exception, false, 0);
    }
}
