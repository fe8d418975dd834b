namespace Vessel.Cpu;

/// <summary>The MSR numbers the emulated CPU model answers to (SDM vol. 4).</summary>
internal static class MsrIndex
{
    public const uint Tsc = 0x10, PlatformId = 0x17, ApicBase = 0x1B, FeatureControl = 0x3A;
    public const uint SpecCtrl = 0x48, PredCmd = 0x49;
    public const uint TscAdjust = 0x3B, BiosSignId = 0x8B, MtrrCap = 0xFE, ArchCapabilities = 0x10A;
    public const uint SysenterCs = 0x174, SysenterEsp = 0x175, SysenterEip = 0x176;
    public const uint McgCap = 0x179, McgStatus = 0x17A, MiscEnable = 0x1A0;
    public const uint MtrrPhysBase0 = 0x200, MtrrPhysMask7 = 0x20F;
    public const uint MtrrFix64K = 0x250, MtrrFix16K0 = 0x258, MtrrFix16K1 = 0x259;
    public const uint MtrrFix4KFirst = 0x268, MtrrFix4KLast = 0x26F, Pat = 0x277, MtrrDefType = 0x2FF;
    public const uint TscDeadline = 0x6E0;
    /// <summary>The x2APIC registers: 0x800 + (xAPIC offset >> 4).</summary>
    public const uint X2ApicFirst = 0x800, X2ApicLast = 0x8FF, X2ApicIcr = 0x830;
    public const uint Efer = 0xC000_0080, Star = 0xC000_0081, Lstar = 0xC000_0082, Cstar = 0xC000_0083;
    public const uint Sfmask = 0xC000_0084, FsBase = 0xC000_0100, GsBase = 0xC000_0101;
    public const uint KernelGsBase = 0xC000_0102, TscAux = 0xC000_0103;
}
