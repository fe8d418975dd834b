using Iced.Intel;
using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>Near jumps as every tier takes them (the limit or canonical check), taken Jcc, and CLI STI HLT. The
/// near JMP CALL RET and LOOP instructions are <see cref="NearBranchUnit{TCpu}"/>.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>Sets RIP to a near target after the CS limit (or canonical) check.</summary>
    internal void JumpNear(ulong target)
    {
        if (Bitness == 64)
        {
            if (!LinearAddress.IsCanonical(target)) Fault(Vector.GP, 0);
        }
        else if (target > Seg[CS].Limit && (Cr0 & Hypervisor.ControlRegisters.Cr0Pe) != 0)
        {
            Fault(Vector.GP, 0);
        }
        Rip = target;
    }

    /// <summary>A taken Jcc: blocks run on past conditional branches (their fall-through path), so a taken
    /// one ends the block.</summary>
    internal void TakeConditionalBranch(ulong target)
    {
        JumpNear(target);
        BlockEnded = true;
    }

    internal void ExecuteCli()
    {
        if ((Cr0 & Hypervisor.ControlRegisters.Cr0Pe) != 0 && Cpl > IoPrivilegeLevel) Fault(Vector.GP, 0);
        _rflags &= ~If;
    }

    internal void ExecuteSti()
    {
        if ((Cr0 & Hypervisor.ControlRegisters.Cr0Pe) != 0 && Cpl > IoPrivilegeLevel) Fault(Vector.GP, 0);
        if ((_rflags & If) == 0)
        {
            _rflags |= If;
            InterruptShadow = true;
            BlockEnded = true;
        }
    }

    internal void ExecuteHlt()
    {
        if (Cpl != 0) Fault(Vector.GP, 0);
        if ((_rflags & If) == 0 && !_machine.Platform.CanWake(this))
        {
            RequestExit(Hypervisor.VcpuExit.Halt());
            return;
        }
        Halted = true;
        BlockEnded = true;
    }
}
