using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>Model-specific registers. Any index not handled here raises #GP(0), as on a real CPU.</summary>
internal sealed partial class X86Cpu
{
    internal static class MsrIndex
    {
        public const uint Tsc = 0x10, PlatformId = 0x17, ApicBase = 0x1B, FeatureControl = 0x3A, BiosSignId = 0x8B;
        public const uint MtrrCap = 0xFE, SysenterCs = 0x174, SysenterEsp = 0x175, SysenterEip = 0x176;
        public const uint McgCap = 0x179, McgStatus = 0x17A, MiscEnable = 0x1A0, DebugCtl = 0x1D9;
        public const uint MtrrPhysBase0 = 0x200, MtrrPhysMaskLast = 0x20F;
        public const uint MtrrFix64K = 0x250, MtrrFix16K80000 = 0x258, MtrrFix16KA0000 = 0x259;
        public const uint MtrrFix4KC0000 = 0x268, MtrrFix4KF8000 = 0x26F, Pat = 0x277, MtrrDefType = 0x2FF;
        public const uint TscDeadline = 0x6E0, X2ApicFirst = 0x800, X2ApicLast = 0x8FF;
        public const uint Efer = 0xC000_0080, Star = 0xC000_0081, Lstar = 0xC000_0082, Cstar = 0xC000_0083;
        public const uint Sfmask = 0xC000_0084, FsBase = 0xC000_0100, GsBase = 0xC000_0101;
        public const uint KernelGsBase = 0xC000_0102, TscAux = 0xC000_0103;
    }

    private const ulong PatPowerOn = 0x0007_0406_0007_0406;
    private const ulong EferWritable = ControlRegisters.EferSce | ControlRegisters.EferLme | ControlRegisters.EferNxe;
    /// <summary>8 variable MTRRs, fixed-range MTRRs, write-combining.</summary>
    private const ulong MtrrCapValue = 0x508;
    private const ulong MiscEnableFastStrings = 1;

    public ulong Star, Lstar, Cstar, Sfmask, KernelGsBase, TscAux;
    public ulong SysenterCs, SysenterEsp, SysenterEip;
    private ulong _pat, _mtrrDefType, _miscEnable, _biosSignId, _mcgStatus;
    private readonly ulong[] _mtrrVariable = new ulong[16];
    private readonly ulong[] _mtrrFixed = new ulong[11];
    /// <summary>IA32_TSC minus the guest clock; IA32_TSC writes change it.</summary>
    private long _tscOffset;

    private void ResetMsrs()
    {
        Star = Lstar = Cstar = Sfmask = KernelGsBase = TscAux = 0;
        SysenterCs = SysenterEsp = SysenterEip = 0;
        _pat = PatPowerOn;
        _mtrrDefType = 0;
        _miscEnable = MiscEnableFastStrings;
        _biosSignId = 0;
        _mcgStatus = 0;
        Array.Clear(_mtrrVariable);
        Array.Clear(_mtrrFixed);
        _tscOffset = 0;
        ApicBase = 0xFEE0_0800 | (VcpuId == 0 ? ApicBaseBsp : 0);
    }

    private const ulong ApicBaseBsp = 1 << 8, ApicBaseWritable = (1 << 10) | (1 << 11) | (((1UL << PhysicalAddressBits) - 1) & ~0xFFFUL);

    internal ulong ReadTsc() => (ulong)((long)_vm.Clock.ReadTsc() + _tscOffset);

    /// <summary>Reads an MSR; false if this CPU model has no such MSR.</summary>
    internal bool TryReadMsr(uint index, out ulong value)
    {
        value = 0;
        switch (index)
        {
            case MsrIndex.Tsc: value = ReadTsc(); return true;
            case MsrIndex.PlatformId: return true;
            case MsrIndex.ApicBase: value = (ApicBase & ~ApicBaseBsp) | (VcpuId == 0 ? ApicBaseBsp : 0); return true;
            case MsrIndex.FeatureControl: value = 1; return true; // locked, VMX and SMX off
            case MsrIndex.BiosSignId: value = _biosSignId; return true;
            case MsrIndex.MtrrCap: value = MtrrCapValue; return true;
            case MsrIndex.SysenterCs: value = SysenterCs; return true;
            case MsrIndex.SysenterEsp: value = SysenterEsp; return true;
            case MsrIndex.SysenterEip: value = SysenterEip; return true;
            case MsrIndex.McgCap: return true;
            case MsrIndex.McgStatus: value = _mcgStatus; return true;
            case MsrIndex.MiscEnable: value = _miscEnable; return true;
            case MsrIndex.DebugCtl: return true;
            case MsrIndex.Pat: value = _pat; return true;
            case MsrIndex.MtrrDefType: value = _mtrrDefType; return true;
            case >= MsrIndex.MtrrPhysBase0 and <= MsrIndex.MtrrPhysMaskLast:
                value = _mtrrVariable[index - MsrIndex.MtrrPhysBase0]; return true;
            case MsrIndex.Efer: value = Efer; return true;
            case MsrIndex.Star: value = Star; return true;
            case MsrIndex.Lstar: value = Lstar; return true;
            case MsrIndex.Cstar: value = Cstar; return true;
            case MsrIndex.Sfmask: value = Sfmask; return true;
            case MsrIndex.FsBase: value = Seg[FS].Base; return true;
            case MsrIndex.GsBase: value = Seg[GS].Base; return true;
            case MsrIndex.KernelGsBase: value = KernelGsBase; return true;
            case MsrIndex.TscAux: value = TscAux; return true;
            case MsrIndex.TscDeadline:
            case >= MsrIndex.X2ApicFirst and <= MsrIndex.X2ApicLast:
                return TryReadApicMsr(index, out value);
        }
        int fixedSlot = FixedMtrrSlot(index);
        if (fixedSlot >= 0)
        {
            value = _mtrrFixed[fixedSlot];
            return true;
        }
        return false;
    }

    /// <summary>Writes an MSR; false if there is no such MSR or the value is refused (the guest gets #GP).</summary>
    internal bool TryWriteMsr(uint index, ulong value)
    {
        switch (index)
        {
            case MsrIndex.Tsc: _tscOffset = (long)value - (long)_vm.Clock.ReadTsc(); return true;
            case MsrIndex.ApicBase:
                if ((value & ~(ApicBaseWritable | ApicBaseBsp)) != 0) return false;
                ApicBase = value & ApicBaseWritable;
                return true;
            case MsrIndex.BiosSignId: _biosSignId = value; return true;
            case MsrIndex.SysenterCs: SysenterCs = value & 0xFFFF; return true;
            case MsrIndex.SysenterEsp: if (!IsCanonical(value)) return false; SysenterEsp = value; return true;
            case MsrIndex.SysenterEip: if (!IsCanonical(value)) return false; SysenterEip = value; return true;
            case MsrIndex.McgStatus: if (value != 0) return false; _mcgStatus = 0; return true;
            case MsrIndex.MiscEnable: _miscEnable = value; return true;
            case MsrIndex.DebugCtl: return value == 0;
            case MsrIndex.Pat:
                if (!IsValidPat(value)) return false;
                _pat = value;
                return true;
            case MsrIndex.MtrrDefType:
                if ((value & ~0xCFFUL) != 0 || !IsValidMemoryType((byte)value)) return false;
                _mtrrDefType = value;
                return true;
            case >= MsrIndex.MtrrPhysBase0 and <= MsrIndex.MtrrPhysMaskLast:
            {
                bool isMask = (index & 1) != 0;
                ulong reserved = isMask ? ~(PhysicalFrameMask | 0x800) : ~(PhysicalFrameMask | 0xFF);
                if ((value & reserved) != 0 || (!isMask && !IsValidMemoryType((byte)value))) return false;
                _mtrrVariable[index - MsrIndex.MtrrPhysBase0] = value;
                return true;
            }
            case MsrIndex.Efer: return WriteEfer(value);
            case MsrIndex.Star: Star = value; return true;
            case MsrIndex.Lstar: if (!IsCanonical(value)) return false; Lstar = value; return true;
            case MsrIndex.Cstar: if (!IsCanonical(value)) return false; Cstar = value; return true;
            case MsrIndex.Sfmask: Sfmask = value & 0xFFFF_FFFF; return true;
            case MsrIndex.FsBase: if (!IsCanonical(value)) return false; Seg[FS].Base = value; return true;
            case MsrIndex.GsBase: if (!IsCanonical(value)) return false; Seg[GS].Base = value; return true;
            case MsrIndex.KernelGsBase: if (!IsCanonical(value)) return false; KernelGsBase = value; return true;
            case MsrIndex.TscAux: if ((value >> 32) != 0) return false; TscAux = value; return true;
            case MsrIndex.TscDeadline:
            case >= MsrIndex.X2ApicFirst and <= MsrIndex.X2ApicLast:
                return TryWriteApicMsr(index, value);
        }
        int fixedSlot = FixedMtrrSlot(index);
        if (fixedSlot >= 0)
        {
            for (int i = 0; i < 8; i++)
                if (!IsValidMemoryType((byte)(value >> (8 * i)))) return false;
            _mtrrFixed[fixedSlot] = value;
            return true;
        }
        return false;
    }

    private bool WriteEfer(ulong value)
    {
        if ((value & ~(EferWritable | ControlRegisters.EferLma)) != 0) return false;
        bool paging = (Cr0 & ControlRegisters.Cr0Pg) != 0;
        // LME cannot change while paging is on; LMA is read-only (it follows CR0.PG and LME).
        if (paging && ((value ^ Efer) & ControlRegisters.EferLme) != 0) return false;
        Efer = (value & EferWritable) | (Efer & ControlRegisters.EferLma);
        FlushTlb();
        UpdateMode();
        return true;
    }

    private static int FixedMtrrSlot(uint index) => index switch
    {
        MsrIndex.MtrrFix64K => 0,
        MsrIndex.MtrrFix16K80000 => 1,
        MsrIndex.MtrrFix16KA0000 => 2,
        >= MsrIndex.MtrrFix4KC0000 and <= MsrIndex.MtrrFix4KF8000 => 3 + (int)(index - MsrIndex.MtrrFix4KC0000),
        _ => -1,
    };

    /// <summary>UC, WC, WT, WP, WB (0, 1, 4, 5, 6).</summary>
    private static bool IsValidMemoryType(byte t) => t is 0 or 1 or 4 or 5 or 6;

    /// <summary>Each PAT entry: a memory type or UC- (7).</summary>
    private static bool IsValidPat(ulong value)
    {
        for (int i = 0; i < 8; i++)
        {
            byte t = (byte)(value >> (8 * i));
            if (!IsValidMemoryType(t) && t != 7) return false;
        }
        return true;
    }

    internal static bool IsCanonical(ulong address) => (ulong)(((long)address << 16) >> 16) == address;

    /// <summary>x2APIC MSRs (0x800-0x8FF) and IA32_TSC_DEADLINE; implemented by the platform's local APIC.</summary>
    private partial bool TryReadApicMsr(uint index, out ulong value);

    private partial bool TryWriteApicMsr(uint index, ulong value);
}
