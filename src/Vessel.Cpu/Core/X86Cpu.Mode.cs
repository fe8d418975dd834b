using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>The mode the CPU decodes and runs in: bitness, CPL and the instruction-pointer mask, recomputed when
/// CR0, EFER or CS change, and the linear address of the next instruction.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>What RIP wraps at in the current bitness.</summary>
    internal ulong IpMask = 0xFFFF;

    /// <summary>Linear address of the next instruction, checked against CS.</summary>
    internal ulong CodeLinear(ulong rip)
    {
        if (Bitness == 64)
        {
            if (!LinearAddress.IsCanonical(rip)) Fault(Vector.GP, 0);
            return rip;
        }
        if (rip > Seg[CS].Limit) Fault(Vector.GP, 0);
        return (Seg[CS].Base + rip) & 0xFFFF_FFFF;
    }

    /// <summary>Recomputes the decoding mode and CPL after CR0, EFER or CS changed.</summary>
    internal void UpdateMode()
    {
        bool pe = (Cr0 & ControlRegisters.Cr0Pe) != 0;
        bool lma = (Efer & ControlRegisters.EferLma) != 0;
        int oldBitness = Bitness;
        if (!pe) Bitness = 16;
        else if (lma && Seg[CS].Long) Bitness = 64;
        else Bitness = Seg[CS].DefaultBig ? 32 : 16;
        IpMask = Bitness switch { 64 => ulong.MaxValue, 32 => 0xFFFF_FFFF, _ => 0xFFFF };
        // A CS load that keeps the bitness (SYSCALL, SYSRET, IRET, interrupts between 64-bit rings) leaves the
        // mappings and what a decoded block means as they were: links and the jump cache are keyed by the user bit
        // instead (LinkEpochNow, one jump-cache bank per level). CR0, CR4 and EFER writes flush the TLB themselves.
        if (Bitness != oldBitness)
        {
            _translationEpoch++;
            _globalTranslationEpoch++;
        }
        Cpl = pe ? Seg[CS].Dpl : 0;
        if (pe && (Seg[SS].Dpl != Cpl) && !Seg[SS].Unusable) Cpl = Seg[CS].Dpl;
        BlockEnded = true;
    }
}
