using Vessel.Cpu.Platform;
using static Vessel.Cpu.MsrIndex;

namespace Vessel.Cpu;

/// <summary>The model-specific registers that are state of their own, not of the CPU core: the time-stamp
/// counter's offset, SYSCALL/SYSENTER targets, TSC_AUX, PAT, the MTRRs and the machine-check and
/// misc-enable words. The CPU core keeps the MSRs that alias its own state (EFER, FS/GS base, KERNEL_GS_BASE, APIC
/// base, the x2APIC) and asks this file for every other index; an index neither knows is refused (#GP), as a real CPU
/// refuses it.</summary>
internal sealed class MsrFile
{
    /// <summary>IA32_ARCH_CAPABILITIES: an interpreter leaks nothing through speculation, so the guest is told it is
    /// immune (RDCL_NO 0, SKIP_L1DFL_VMENTRY 3, SSB_NO 4, MDS_NO 5, PSCHANGE_MC_NO 6, TAA_NO 8, SBDR_SSDP_NO 13,
    /// FBSDP_NO 14, PSDP_NO 15, BHI_NO 20, PBRSB_NO 24, GDS_NO 26, RFDS_NO 27, ITS_NO 62) and that indirect branch
    /// restriction is always on (IBRS_ALL 1, "enhanced IBRS": true of a CPU that predicts no branch at all). Linux
    /// then skips page-table isolation (a CR3 switch on every kernel entry), the VERW buffer clearing on every
    /// return to user mode, retpolines (every indirect call through a thunk) and, with ITS_NO, which a guest that
    /// sees the hypervisor bit needs, the return thunk on every RET. RSBA 2 and RRSBA 19 stay clear: they say RET
    /// may be predicted from elsewhere.</summary>
    public const ulong ArchCapabilitiesValue = (1UL << 0) | (1UL << 1) | (1UL << 3) | (1UL << 4) | (1UL << 5)
        | (1UL << 6) | (1UL << 8) | (1UL << 13) | (1UL << 14) | (1UL << 15) | (1UL << 20) | (1UL << 24) | (1UL << 26)
        | (1UL << 27) | (1UL << 62);

    /// <summary>IA32_SPEC_CTRL's bits this model enumerates (IBRS 0, STIBP 1, SSBD 2, BHI_DIS_S 10): kept for the
    /// guest to read back, no effect on a CPU without predictors. IA32_PRED_CMD's only command is IBPB (bit 0), a
    /// no-op here.</summary>
    private const ulong SpecCtrlWritable = 0b111 | (1 << 10), PredCmdIbpb = 1;

    private const int VariableMtrrs = 8;
    private const ulong MiscEnableFastStrings = 1, MiscEnablePerfMonUnavailable = 1 << 7, MiscEnableNoPebs = 1 << 12;
    private const ulong DefaultPat = 0x0007_0406_0007_0406;

    private readonly GuestClock _clock;

    public ulong Star, Lstar, Cstar, Sfmask, TscAux, SysenterCs, SysenterEsp, SysenterEip;
    private ulong _pat, _miscEnable, _mtrrDefType, _mcgStatus, _specCtrl;
    private long _tscOffset;
    /// <summary>IA32_TSC_ADJUST: what software has added to this vCPU's TSC (WRMSR to either MSR moves both).</summary>
    private long _tscAdjust;
    private readonly ulong[] _variableMtrrs = new ulong[VariableMtrrs * 2];
    private readonly ulong[] _fixedMtrrs = new ulong[11];

    public MsrFile(GuestClock clock)
    {
        _clock = clock;
        Reset();
    }

    /// <summary>The power-on values (the TSC offset is kept: RESET does not stop the counter).</summary>
    public void Reset()
    {
        Star = Lstar = Cstar = Sfmask = TscAux = SysenterCs = SysenterEsp = SysenterEip = 0;
        _pat = DefaultPat;
        _miscEnable = MiscEnableFastStrings | MiscEnablePerfMonUnavailable | MiscEnableNoPebs;
        _mtrrDefType = 0;
        _mcgStatus = 0;
        _specCtrl = 0;
        Array.Clear(_variableMtrrs);
        Array.Clear(_fixedMtrrs);
    }

    /// <summary>The time-stamp counter as this vCPU sees it.</summary>
    public ulong ReadTsc() => (ulong)((long)_clock.ReadTsc() + _tscOffset);

    /// <summary>What to add to a Stopwatch timestamp for this vCPU's TSC, where Stopwatch counts nanoseconds (see
    /// <see cref="Native.NativeSystemCalls"/>): translated RDTSC reads the clock and adds this.</summary>
    public long TscBias => _tscOffset - _clock.Origin;

    /// <summary>Reads one of this file's MSRs; false if it has no such MSR.</summary>
    public bool TryRead(uint index, out ulong value)
    {
        value = 0;
        switch (index)
        {
            case Tsc: value = ReadTsc(); return true;
            case TscAdjust: value = (ulong)_tscAdjust; return true;
            case PlatformId: return true;
            case SpecCtrl: value = _specCtrl; return true;
            case FeatureControl: value = 1; return true; // locked, VMX off
            case BiosSignId: return true;
            case MtrrCap: value = VariableMtrrs | (1 << 8) | (1 << 10); return true; // fixed ranges, write-combining
            case MsrIndex.SysenterCs: value = SysenterCs; return true;
            case MsrIndex.SysenterEsp: value = SysenterEsp; return true;
            case MsrIndex.SysenterEip: value = SysenterEip; return true;
            case McgCap: return true; // no machine-check banks
            case ArchCapabilities: value = ArchCapabilitiesValue; return true;
            case McgStatus: value = _mcgStatus; return true;
            case MiscEnable: value = _miscEnable; return true;
            case >= MtrrPhysBase0 and <= MtrrPhysMask7: value = _variableMtrrs[index - MtrrPhysBase0]; return true;
            case MtrrFix64K: value = _fixedMtrrs[0]; return true;
            case MtrrFix16K0 or MtrrFix16K1: value = _fixedMtrrs[1 + index - MtrrFix16K0]; return true;
            case >= MtrrFix4KFirst and <= MtrrFix4KLast: value = _fixedMtrrs[3 + index - MtrrFix4KFirst]; return true;
            case Pat: value = _pat; return true;
            case MtrrDefType: value = _mtrrDefType; return true;
            case MsrIndex.Star: value = Star; return true;
            case MsrIndex.Lstar: value = Lstar; return true;
            case MsrIndex.Cstar: value = Cstar; return true;
            case MsrIndex.Sfmask: value = Sfmask; return true;
            case MsrIndex.TscAux: value = TscAux; return true;
            default: return false;
        }
    }

    /// <summary>Writes one of this file's MSRs; false if it has no such MSR or refuses the value (the guest gets #GP).</summary>
    public bool TryWrite(uint index, ulong value)
    {
        switch (index)
        {
            case Tsc: WriteTsc(value); return true;
            case TscAdjust:
                _tscOffset += (long)value - _tscAdjust;
                _tscAdjust = (long)value;
                return true;
            case SpecCtrl: if ((value & ~SpecCtrlWritable) != 0) return false; _specCtrl = value; return true;
            case PredCmd: return (value & ~PredCmdIbpb) == 0; // write-only: RDMSR of it is refused
            case BiosSignId: return true;
            case MsrIndex.SysenterCs: SysenterCs = value & 0xFFFF; return true;
            case MsrIndex.SysenterEsp: return TryWriteCanonical(ref SysenterEsp, value);
            case MsrIndex.SysenterEip: return TryWriteCanonical(ref SysenterEip, value);
            case McgStatus: if (value != 0) return false; _mcgStatus = 0; return true;
            case MiscEnable: return TryWriteMiscEnable(value);
            case >= MtrrPhysBase0 and <= MtrrPhysMask7: _variableMtrrs[index - MtrrPhysBase0] = value; return true;
            case MtrrFix64K: _fixedMtrrs[0] = value; return true;
            case MtrrFix16K0 or MtrrFix16K1: _fixedMtrrs[1 + index - MtrrFix16K0] = value; return true;
            case >= MtrrFix4KFirst and <= MtrrFix4KLast: _fixedMtrrs[3 + index - MtrrFix4KFirst] = value; return true;
            case Pat: return TryWritePat(value);
            case MtrrDefType: if ((value & ~0xCFFUL) != 0) return false; _mtrrDefType = value; return true;
            case MsrIndex.Star: Star = value; return true;
            case MsrIndex.Lstar: return TryWriteCanonical(ref Lstar, value);
            case MsrIndex.Cstar: return TryWriteCanonical(ref Cstar, value);
            case MsrIndex.Sfmask: Sfmask = value & 0xFFFF_FFFF; return true;
            case MsrIndex.TscAux: if (value > uint.MaxValue) return false; TscAux = value; return true;
            default: return false;
        }
    }

    private static bool TryWriteCanonical(ref ulong msr, ulong value)
    {
        if (!LinearAddress.IsCanonical(value)) return false;
        msr = value;
        return true;
    }

    private void WriteTsc(ulong value)
    {
        long offset = (long)value - (long)_clock.ReadTsc();
        _tscAdjust += offset - _tscOffset;
        _tscOffset = offset;
    }

    private bool TryWriteMiscEnable(ulong value)
    {
        // Bits 7, 11 and 12 are read-only; the architecture reserves 1-2, 4-6, 8-10, 13-15, 17, 19-21, 24-33, 35-63.
        const ulong readOnly = (1 << 7) | (1 << 11) | (1 << 12);
        const ulong writable = 1 | (1 << 3) | (1 << 16) | (1 << 18) | (1 << 22) | (1 << 23) | (1UL << 34);
        if ((value & ~(writable | readOnly)) != 0) return false;
        _miscEnable = (value & writable) | (_miscEnable & readOnly);
        return true;
    }

    private bool TryWritePat(ulong value)
    {
        for (int i = 0; i < 8; i++)
            if (((value >> (i * 8)) & 0xFF) is 2 or 3 or >= 8) return false; // reserved memory types
        _pat = value;
        return true;
    }
}
