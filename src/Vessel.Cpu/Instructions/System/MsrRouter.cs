using Vessel.Hypervisor;
using static Vessel.Cpu.X86Cpu;

namespace Vessel.Cpu;

/// <summary>RDMSR/WRMSR by index: the MSRs that alias core state (EFER, FS/GS base, KERNEL_GS_BASE, IA32_APIC_BASE) and the local
/// APIC's (x2APIC, TSC deadline) are answered here, every other index by the vCPU's <see cref="MsrFile"/>.</summary>
internal sealed partial class MsrRouter
{
    internal const ulong ApicBaseBsp = 1UL << 8, ApicBaseExtended = 1UL << 10, ApicBaseEnable = 1UL << 11;

    private readonly ISystemInstructionCpu _cpu;
    private readonly MsrFile _msrs;

    public MsrRouter(ISystemInstructionCpu cpu, MsrFile msrs)
    {
        _cpu = cpu;
        _msrs = msrs;
    }

    private ref CpuState S => ref _cpu.State;

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

    /// <summary>RESET/INIT: the MSR file's defaults, the xAPIC enabled at its base, BSP on vCPU 0.</summary>
    public void Reset()
    {
        _msrs.Reset();
        S.KernelGsBase = 0;
        _cpu.ApicBase = PcLayout.LocalApicBase | ApicBaseEnable | (_cpu.VcpuId == 0 ? ApicBaseBsp : 0);
    }

    /// <summary>Reads an MSR; false if this CPU model has no such MSR.</summary>
    public bool TryRead(uint index, out ulong value)
    {
        switch (index)
        {
            case MsrIndex.ApicBase: value = _cpu.ApicBase; return true;
            case MsrIndex.Efer: value = S.Efer; return true;
            case MsrIndex.FsBase: value = S.Seg[FS].Base; return true;
            case MsrIndex.GsBase: value = S.Seg[GS].Base; return true;
            case MsrIndex.KernelGsBase: value = S.KernelGsBase; return true;
            case MsrIndex.TscDeadline or (>= MsrIndex.X2ApicFirst and <= MsrIndex.X2ApicLast):
                return TryReadApicMsr(index, out value);
            default: return _msrs.TryRead(index, out value);
        }
    }

    /// <summary>Writes an MSR; false if there is no such MSR or the value is refused (the guest gets #GP).</summary>
    public bool TryWrite(uint index, ulong value)
    {
        switch (index)
        {
            case MsrIndex.ApicBase:
                if ((value & ~(Mmu.PhysicalMask | ApicBaseBsp | ApicBaseExtended | ApicBaseEnable)) != 0) return false;
                if (!IsAllowedApicModeChange(_cpu.ApicBase, value)) return false;
                _cpu.ApicBase = value;
                return true;
            case MsrIndex.Efer: return WriteEfer(value);
            case MsrIndex.FsBase: if (!LinearAddress.IsCanonical(value)) return false; S.Seg[FS].Base = value; return true;
            case MsrIndex.GsBase: if (!LinearAddress.IsCanonical(value)) return false; S.Seg[GS].Base = value; return true;
            case MsrIndex.KernelGsBase: if (!LinearAddress.IsCanonical(value)) return false; S.KernelGsBase = value; return true;
            case MsrIndex.TscDeadline or (>= MsrIndex.X2ApicFirst and <= MsrIndex.X2ApicLast):
                return TryWriteApicMsr(index, value);
            default: return _msrs.TryWrite(index, value);
        }
    }

    /// <summary>EFER: SCE, LME, NXE writable; LMA follows paging; LME cannot change while paging is on.</summary>
    private bool WriteEfer(ulong value)
    {
        ref CpuState s = ref S;
        const ulong writable = ControlRegisters.EferSce | ControlRegisters.EferLme | ControlRegisters.EferLma | ControlRegisters.EferNxe;
        if ((value & ~writable) != 0) return false;
        bool paging = (s.Cr0 & ControlRegisters.Cr0Pg) != 0;
        if (paging && ((value ^ s.Efer) & ControlRegisters.EferLme) != 0) return false;
        ulong lma = s.Efer & ControlRegisters.EferLma; // not writable: kept
        s.Efer = (value & ~ControlRegisters.EferLma) | lma;
        _cpu.FlushTlb();
        _cpu.UpdateMode();
        return true;
    }
}
