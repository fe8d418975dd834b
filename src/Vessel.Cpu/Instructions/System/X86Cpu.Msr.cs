using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>Model-specific registers of the CPU model CPUID describes; any other index is refused (#GP), as a
/// real CPU refuses it.</summary>
internal sealed partial class X86Cpu
{
    internal const ulong ApicBaseBsp = 1UL << 8, ApicBaseExtended = 1UL << 10, ApicBaseEnable = 1UL << 11;

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

    public const uint MsrTsc = 0x10, MsrPlatformId = 0x17, MsrApicBase = 0x1B, MsrFeatureControl = 0x3A;
    public const uint MsrTscAdjust = 0x3B, MsrBiosSignId = 0x8B, MsrMtrrCap = 0xFE, MsrArchCapabilities = 0x10A;

    /// <summary>IA32_ARCH_CAPABILITIES: an interpreter leaks nothing through speculation, so the guest is told it is
    /// immune (RDCL_NO 0, SKIP_L1DFL_VMENTRY 3, MDS_NO 5, PSCHANGE_MC_NO 6, TAA_NO 8, SBDR_SSDP_NO 13, FBSDP_NO 14,
    /// PSDP_NO 15, BHI_NO 20, PBRSB_NO 24, GDS_NO 26, RFDS_NO 27). Linux then skips page-table isolation (a CR3
    /// switch on every kernel entry) and the VERW buffer clearing on every return to user mode.</summary>
    public const ulong ArchCapabilitiesValue = (1UL << 0) | (1UL << 3) | (1UL << 5) | (1UL << 6) | (1UL << 8)
        | (1UL << 13) | (1UL << 14) | (1UL << 15) | (1UL << 20) | (1UL << 24) | (1UL << 26) | (1UL << 27);
    public const uint MsrSysenterCs = 0x174, MsrSysenterEsp = 0x175, MsrSysenterEip = 0x176;
    public const uint MsrMcgCap = 0x179, MsrMcgStatus = 0x17A, MsrMiscEnable = 0x1A0;
    public const uint MsrMtrrPhysBase0 = 0x200, MsrMtrrPhysMask7 = 0x20F;
    public const uint MsrMtrrFix64K = 0x250, MsrMtrrFix16K0 = 0x258, MsrMtrrFix16K1 = 0x259;
    public const uint MsrMtrrFix4KFirst = 0x268, MsrMtrrFix4KLast = 0x26F, MsrPat = 0x277, MsrMtrrDefType = 0x2FF;
    public const uint MsrTscDeadline = 0x6E0;
    public const uint MsrEfer = 0xC000_0080, MsrStar = 0xC000_0081, MsrLstar = 0xC000_0082, MsrCstar = 0xC000_0083;
    public const uint MsrSfmask = 0xC000_0084, MsrFsBase = 0xC000_0100, MsrGsBase = 0xC000_0101;
    public const uint MsrKernelGsBase = 0xC000_0102, MsrTscAux = 0xC000_0103;

    private const int VariableMtrrs = 8;
    private const ulong MiscEnableFastStrings = 1, MiscEnablePerfMonUnavailable = 1 << 7, MiscEnableNoPebs = 1 << 12;
    private const ulong DefaultPat = 0x0007_0406_0007_0406;

    public ulong Star, Lstar, Cstar, Sfmask, KernelGsBase, TscAux, SysenterCs, SysenterEsp, SysenterEip;
    private ulong _pat, _miscEnable, _mtrrDefType, _mcgStatus;
    private long _tscOffset;
    /// <summary>IA32_TSC_ADJUST: what software has added to this vCPU's TSC (WRMSR to either MSR moves both).</summary>
    private long _tscAdjust;
    private readonly ulong[] _variableMtrrs = new ulong[VariableMtrrs * 2];
    private readonly ulong[] _fixedMtrrs = new ulong[11];

    private void ResetMsrs()
    {
        Star = Lstar = Cstar = Sfmask = KernelGsBase = TscAux = SysenterCs = SysenterEsp = SysenterEip = 0;
        _pat = DefaultPat;
        _miscEnable = MiscEnableFastStrings | MiscEnablePerfMonUnavailable | MiscEnableNoPebs;
        _mtrrDefType = 0;
        _mcgStatus = 0;
        Array.Clear(_variableMtrrs);
        Array.Clear(_fixedMtrrs);
        ApicBase = 0xFEE0_0000 | (1UL << 11) | (VcpuId == 0 ? 1UL << 8 : 0);
    }

    /// <summary>The time-stamp counter as this vCPU sees it.</summary>
    public ulong ReadTsc() => (ulong)((long)_machine.Clock.ReadTsc() + _tscOffset);

    /// <summary>Reads an MSR; false if this CPU model has no such MSR.</summary>
    internal bool TryReadMsr(uint index, out ulong value)
    {
        value = 0;
        switch (index)
        {
            case MsrTsc: value = ReadTsc(); return true;
            case MsrTscAdjust: value = (ulong)_tscAdjust; return true;
            case MsrPlatformId: return true;
            case MsrApicBase: value = ApicBase; return true;
            case MsrFeatureControl: value = 1; return true; // locked, VMX off
            case MsrBiosSignId: return true;
            case MsrMtrrCap: value = VariableMtrrs | (1 << 8) | (1 << 10); return true; // fixed ranges, write-combining
            case MsrSysenterCs: value = SysenterCs; return true;
            case MsrSysenterEsp: value = SysenterEsp; return true;
            case MsrSysenterEip: value = SysenterEip; return true;
            case MsrMcgCap: return true; // no machine-check banks
            case MsrArchCapabilities: value = ArchCapabilitiesValue; return true;
            case MsrMcgStatus: value = _mcgStatus; return true;
            case MsrMiscEnable: value = _miscEnable; return true;
            case >= MsrMtrrPhysBase0 and <= MsrMtrrPhysMask7: value = _variableMtrrs[index - MsrMtrrPhysBase0]; return true;
            case MsrMtrrFix64K: value = _fixedMtrrs[0]; return true;
            case MsrMtrrFix16K0 or MsrMtrrFix16K1: value = _fixedMtrrs[1 + index - MsrMtrrFix16K0]; return true;
            case >= MsrMtrrFix4KFirst and <= MsrMtrrFix4KLast: value = _fixedMtrrs[3 + index - MsrMtrrFix4KFirst]; return true;
            case MsrPat: value = _pat; return true;
            case MsrMtrrDefType: value = _mtrrDefType; return true;
            case MsrEfer: value = Efer; return true;
            case MsrStar: value = Star; return true;
            case MsrLstar: value = Lstar; return true;
            case MsrCstar: value = Cstar; return true;
            case MsrSfmask: value = Sfmask; return true;
            case MsrFsBase: value = Seg[FS].Base; return true;
            case MsrGsBase: value = Seg[GS].Base; return true;
            case MsrKernelGsBase: value = KernelGsBase; return true;
            case MsrTscAux: value = TscAux; return true;
            case MsrTscDeadline or (>= 0x800 and <= 0x8FF): return TryReadApicMsr(index, out value);
            default: return false;
        }
    }

    /// <summary>Writes an MSR; false if there is no such MSR or the value is refused (the guest gets #GP).</summary>
    internal bool TryWriteMsr(uint index, ulong value)
    {
        switch (index)
        {
            case MsrTsc:
            {
                long offset = (long)value - (long)_machine.Clock.ReadTsc();
                _tscAdjust += offset - _tscOffset;
                _tscOffset = offset;
                return true;
            }
            case MsrTscAdjust:
                _tscOffset += (long)value - _tscAdjust;
                _tscAdjust = (long)value;
                return true;
            case MsrApicBase:
                if ((value & ~(PhysicalMask | ApicBaseBsp | ApicBaseExtended | ApicBaseEnable)) != 0) return false;
                if (!IsAllowedApicModeChange(ApicBase, value)) return false;
                ApicBase = value;
                return true;
            case MsrBiosSignId: return true;
            case MsrSysenterCs: SysenterCs = value & 0xFFFF; return true;
            case MsrSysenterEsp: if (!IsCanonical(value)) return false; SysenterEsp = value; return true;
            case MsrSysenterEip: if (!IsCanonical(value)) return false; SysenterEip = value; return true;
            case MsrMcgStatus: if (value != 0) return false; _mcgStatus = 0; return true;
            case MsrMiscEnable:
            {
                // Bits 7, 11 and 12 are read-only; the architecture reserves 1-2, 4-6, 8-10, 13-15, 17, 19-21, 24-33, 35-63.
                const ulong readOnly = (1 << 7) | (1 << 11) | (1 << 12);
                const ulong writable = 1 | (1 << 3) | (1 << 16) | (1 << 18) | (1 << 22) | (1 << 23) | (1UL << 34);
                if ((value & ~(writable | readOnly)) != 0) return false;
                _miscEnable = (value & writable) | (_miscEnable & readOnly);
                return true;
            }
            case >= MsrMtrrPhysBase0 and <= MsrMtrrPhysMask7: _variableMtrrs[index - MsrMtrrPhysBase0] = value; return true;
            case MsrMtrrFix64K: _fixedMtrrs[0] = value; return true;
            case MsrMtrrFix16K0 or MsrMtrrFix16K1: _fixedMtrrs[1 + index - MsrMtrrFix16K0] = value; return true;
            case >= MsrMtrrFix4KFirst and <= MsrMtrrFix4KLast: _fixedMtrrs[3 + index - MsrMtrrFix4KFirst] = value; return true;
            case MsrPat:
                for (int i = 0; i < 8; i++)
                    if (((value >> (i * 8)) & 0xFF) is 2 or 3 or >= 8) return false; // reserved memory types
                _pat = value;
                return true;
            case MsrMtrrDefType: if ((value & ~0xCFFUL) != 0) return false; _mtrrDefType = value; return true;
            case MsrEfer: return WriteEfer(value);
            case MsrStar: Star = value; return true;
            case MsrLstar: if (!IsCanonical(value)) return false; Lstar = value; return true;
            case MsrCstar: if (!IsCanonical(value)) return false; Cstar = value; return true;
            case MsrSfmask: Sfmask = value & 0xFFFF_FFFF; return true;
            case MsrFsBase: if (!IsCanonical(value)) return false; Seg[FS].Base = value; return true;
            case MsrGsBase: if (!IsCanonical(value)) return false; Seg[GS].Base = value; return true;
            case MsrKernelGsBase: if (!IsCanonical(value)) return false; KernelGsBase = value; return true;
            case MsrTscAux: if (value > uint.MaxValue) return false; TscAux = value; return true;
            case MsrTscDeadline or (>= 0x800 and <= 0x8FF): return TryWriteApicMsr(index, value);
            default: return false;
        }
    }

    private static bool IsCanonical(ulong address) => (ulong)(((long)address << 16) >> 16) == address;

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
