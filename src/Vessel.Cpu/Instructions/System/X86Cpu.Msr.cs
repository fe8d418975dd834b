using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>RDMSR/WRMSR as the core sees them: the MSRs that alias core state (EFER, FS/GS base, IA32_APIC_BASE,
/// the x2APIC and TSC-deadline registers) are answered here, every other index by <see cref="Msrs"/>.</summary>
internal sealed partial class X86Cpu
{
    internal const ulong ApicBaseBsp = 1UL << 8, ApicBaseExtended = 1UL << 10, ApicBaseEnable = 1UL << 11;

    /// <summary>This vCPU's own MSRs: TSC offset, SYSCALL/SYSENTER targets, PAT, MTRRs...</summary>
    internal readonly MsrFile Msrs;

    /// <summary>The APIC mode changes IA32_APIC_BASE allows (SDM 10.12.5): x2APIC without the APIC enabled
    /// is invalid, x2APIC is left only to disabled, and entered only from xAPIC.</summary>
    private static bool IsAllowedApicModeChange(ulong from, ulong to)
    {
        const ulong mode = ApicBaseEnable | ApicBaseExtended;
        ulong old = from & mode, next = to & mode;
        if (next == ApicBaseExtended) return false;
        if (old == mode && next == ApicBaseEnable) return false;
        if (old == 0 && next == mode) return false;
        return true;
    }

    private void ResetMsrs()
    {
        Msrs.Reset();
        ApicBase = PcLayout.LocalApicBase | ApicBaseEnable | (VcpuId == 0 ? ApicBaseBsp : 0);
    }

    /// <summary>The time-stamp counter as this vCPU sees it.</summary>
    public ulong ReadTsc() => Msrs.ReadTsc();

    /// <summary>Reads an MSR; false if this CPU model has no such MSR.</summary>
    internal bool TryReadMsr(uint index, out ulong value)
    {
        switch (index)
        {
            case MsrIndex.ApicBase: value = ApicBase; return true;
            case MsrIndex.Efer: value = Efer; return true;
            case MsrIndex.FsBase: value = Seg[FS].Base; return true;
            case MsrIndex.GsBase: value = Seg[GS].Base; return true;
            case MsrIndex.TscDeadline or (>= MsrIndex.X2ApicFirst and <= MsrIndex.X2ApicLast):
                return TryReadApicMsr(index, out value);
            default: return Msrs.TryRead(index, out value);
        }
    }

    /// <summary>Writes an MSR; false if there is no such MSR or the value is refused (the guest gets #GP).</summary>
    internal bool TryWriteMsr(uint index, ulong value)
    {
        switch (index)
        {
            case MsrIndex.ApicBase:
                if ((value & ~(PhysicalMask | ApicBaseBsp | ApicBaseExtended | ApicBaseEnable)) != 0) return false;
                if (!IsAllowedApicModeChange(ApicBase, value)) return false;
                ApicBase = value;
                return true;
            case MsrIndex.Efer: return WriteEfer(value);
            case MsrIndex.FsBase: if (!LinearAddress.IsCanonical(value)) return false; Seg[FS].Base = value; return true;
            case MsrIndex.GsBase: if (!LinearAddress.IsCanonical(value)) return false; Seg[GS].Base = value; return true;
            case MsrIndex.TscDeadline or (>= MsrIndex.X2ApicFirst and <= MsrIndex.X2ApicLast):
                return TryWriteApicMsr(index, value);
            default: return Msrs.TryWrite(index, value);
        }
    }

    /// <summary>EFER: SCE, LME, NXE writable; LMA follows paging; LME cannot change while paging is on.</summary>
    private bool WriteEfer(ulong value)
    {
        const ulong writable = ControlRegisters.EferSce | ControlRegisters.EferLme | ControlRegisters.EferLma | ControlRegisters.EferNxe;
        if ((value & ~writable) != 0) return false;
        bool paging = (Cr0 & ControlRegisters.Cr0Pg) != 0;
        if (paging && ((value ^ Efer) & ControlRegisters.EferLme) != 0) return false;
        ulong lma = Efer & ControlRegisters.EferLma; // not writable: kept
        Efer = (value & ~ControlRegisters.EferLma) | lma;
        FlushTlb();
        UpdateMode();
        return true;
    }
}
