using Vessel.Cpu.Platform;

namespace Vessel.Cpu;

/// <summary>What CPUID answers with besides the leaf: the vCPU's APIC ID (its index), CR4.OSXSAVE and
/// IA32_APIC_BASE's global enable.</summary>
internal readonly record struct CpuidInputs(int ApicId, bool OsXsaveEnabled, bool ApicEnabled);

/// <summary>The one CPU model the emu backend presents: "GenuineIntel", family 6, advertising only what the
/// emulator implements (the x87/SSE/XSAVE bits come from <see cref="ExtendedFeatures"/> as they land).</summary>
internal static class CpuidModel
{
    public const uint MaxBasicLeaf = 0x16, MaxExtendedLeaf = 0x8000_0008, HypervisorLeaf = 0x4000_0000;

    // CPUID.1:EDX
    public const uint Fpu = 1 << 0, Vme = 1 << 1, De = 1 << 2, Pse = 1 << 3, Tsc = 1 << 4, Msr = 1 << 5, Pae = 1 << 6;
    public const uint Cx8 = 1 << 8, Apic = 1 << 9, Sep = 1 << 11, Mtrr = 1 << 12, Pge = 1 << 13, Cmov = 1 << 15;
    public const uint Pat = 1 << 16, Pse36 = 1 << 17, Clflush = 1 << 19;
    // CPUID.1:ECX
    public const uint Cx16 = 1 << 13, X2Apic = 1 << 21, Movbe = 1 << 22, Popcnt = 1 << 23, TscDeadline = 1 << 24;
    public const uint OsXsave = 1 << 27, Hypervisor = 1u << 31;
    // CPUID.7.0:EBX
    public const uint FsGsBase = 1 << 0, TscAdjust = 1 << 1, Smep = 1 << 7, Erms = 1 << 9, Smap = 1 << 20, ClflushOpt = 1 << 23;
    // CPUID.80000001:EDX / ECX
    public const uint Syscall = 1 << 11, Nx = 1 << 20, Page1G = 1 << 26, Rdtscp = 1 << 27, LongMode = 1 << 29;
    public const uint LahfLm = 1 << 0, Abm = 1 << 5;
    // CPUID.7.0:ECX
    public const uint Umip = 1 << 2, Rdpid = 1 << 22;
    // CPUID.7.0:EDX: IA32_SPEC_CTRL (IBRS, STIBP, SSBD), IA32_PRED_CMD (IBPB) and IA32_ARCH_CAPABILITIES exist.
    public const uint IbrsIbpb = 1 << 26, Stibp = 1 << 27, ArchCapabilities = 1u << 29, Ssbd = 1u << 31;
    // CPUID.7.2:EDX: IA32_SPEC_CTRL.BHI_DIS_S exists.
    public const uint BhiCtrl = 1 << 4;
    /// <summary>Leaf 7's highest subleaf: 1 (all zero) and 2 (<see cref="BhiCtrl"/>) are answered.</summary>
    public const uint Leaf7MaxSubleaf = 2;
    // CPUID.80000007:EDX
    public const uint InvariantTsc = 1 << 8;

    public const uint Leaf1Edx = De | Pse | Tsc | Msr | Pae | Cx8 | Apic | Sep | Mtrr | Pge | Cmov | Pat | Pse36 | Clflush;
    public const uint Leaf1Ecx = Cx16 | X2Apic | Movbe | Popcnt | TscDeadline | Hypervisor;
    public const uint Leaf7Ebx = FsGsBase | TscAdjust | Smep | Erms | Smap | ClflushOpt;
    public const uint Leaf7Ecx = Umip | Rdpid;
    /// <summary>The speculation controls come with enhanced IBRS (IA32_ARCH_CAPABILITIES.IBRS_ALL, see
    /// <see cref="MsrFile.ArchCapabilitiesValue"/>): a real part that has one has the others, and Linux only takes
    /// enhanced IBRS over retpolines where it can set SPEC_CTRL.IBRS.</summary>
    public const uint Leaf7Edx = IbrsIbpb | Stibp | ArchCapabilities | Ssbd;
    public const uint Extended1Edx = Syscall | Nx | Page1G | Rdtscp | LongMode;
    public const uint Extended1Ecx = LahfLm | Abm;

    /// <summary>Family 6, model 0x55 would claim a Skylake-SP; this is a plain family-6 model 0x3F part, stepping 1.</summary>
    public const uint Signature = 0x0003_06F1;

    public static void Query(in CpuidInputs cpu, uint leaf, uint subleaf, out uint eax, out uint ebx, out uint ecx, out uint edx)
    {
        eax = ebx = ecx = edx = 0;
        // Intel answers a leaf above both maxima with the highest basic leaf (the hypervisor range aside).
        if ((leaf > MaxBasicLeaf && leaf < HypervisorLeaf) || (leaf > 0x4FFF_FFFF && leaf < 0x8000_0000) || leaf > MaxExtendedLeaf)
            leaf = MaxBasicLeaf;
        switch (leaf)
        {
            case 0:
                eax = MaxBasicLeaf;
                Vendor("GenuineIntel", out ebx, out edx, out ecx);
                return;
            case 1:
                eax = Signature;
                ebx = (uint)(cpu.ApicId << 24) | (1 << 16) | (8 << 8); // APIC ID, 1 logical CPU per package, CLFLUSH 64 bytes
                ecx = Leaf1Ecx | ExtendedFeatures.Leaf1Ecx;
                if (cpu.OsXsaveEnabled) ecx |= OsXsave;
                edx = Leaf1Edx | ExtendedFeatures.Leaf1Edx;
                if (!cpu.ApicEnabled) edx &= ~Apic; // the APIC disabled in IA32_APIC_BASE
                return;
            case 4 when subleaf < 3:
            {
                // Deterministic cache parameters: L1D, L1I, L2 (type, level, 64-byte lines, sets).
                (uint type, uint level, uint ways, uint sets) = subleaf switch
                {
                    0 => (1u, 1u, 8u, 64u), 1 => (2u, 1u, 8u, 64u), _ => (3u, 2u, 16u, 1024u),
                };
                eax = type | (level << 5) | (1 << 8);
                ebx = 63 | ((ways - 1) << 22);
                ecx = sets - 1;
                return;
            }
            case 6: eax = 1 << 2; return; // ARAT: the APIC timer runs in every power state
            case 7 when subleaf == 0:
                eax = Leaf7MaxSubleaf;
                ebx = Leaf7Ebx;
                ecx = Leaf7Ecx;
                edx = Leaf7Edx;
                return;
            // Linux (6.1 stable too) treats every CPU with enhanced IBRS or the hypervisor bit as open to branch
            // history injection, BHI_NO or not, and then clears the branch history in software on every syscall;
            // with BHI_CTRL it sets SPEC_CTRL.BHI_DIS_S once instead (true of a CPU without branch history).
            case 7 when subleaf == 2: edx = BhiCtrl; return;
            case 0xB when subleaf < 2:
                // x2APIC topology: one thread per core, one core per package.
                eax = 0;
                ebx = 1;
                ecx = subleaf | ((subleaf + 1) << 8);
                edx = (uint)cpu.ApicId;
                return;
            case 0xD:
                XsaveLeaf(subleaf, out eax, out ebx, out ecx, out edx);
                return;
            case 0x15:
                // TSC = crystal * EBX / EAX: a 25 MHz crystal times 40 gives the 1 GHz TSC of GuestClock.
                eax = 1;
                ebx = (uint)(GuestClock.TscHz / 25_000_000);
                ecx = 25_000_000;
                return;
            case 0x16:
                eax = (uint)(GuestClock.TscHz / 1_000_000); // base MHz
                ebx = eax;
                ecx = 100; // bus MHz
                return;
            case HypervisorLeaf:
                eax = HypervisorLeaf;
                Vendor("VesselVessel", out ebx, out ecx, out edx);
                return;
            case 0x8000_0000: eax = MaxExtendedLeaf; return;
            case 0x8000_0001:
                ecx = Extended1Ecx;
                edx = Extended1Edx;
                return;
            case >= 0x8000_0002 and <= 0x8000_0004:
                Brand(leaf - 0x8000_0002, out eax, out ebx, out ecx, out edx);
                return;
            // The TSC follows host monotonic time at a constant rate in every state: with TSC_ADJUST this lets
            // Linux trust it without the clocksource watchdog, which would otherwise compare it with a jiffies
            // count that lags whenever the emulated guest runs long stretches with interrupts off.
            case 0x8000_0007: edx = InvariantTsc; return;
            case 0x8000_0006: ecx = 64 | (8 << 12) | (256 << 16); return; // L2: 256 KiB, 8-way, 64-byte lines
            case 0x8000_0008: eax = X86Cpu.PhysicalAddressBits | (48 << 8); return;
        }
    }

    private static void XsaveLeaf(uint subleaf, out uint eax, out uint ebx, out uint ecx, out uint edx)
    {
        eax = ebx = ecx = edx = 0;
        ulong supported = ExtendedFeatures.SupportedXcr0;
        if (supported == 0) return;
        switch (subleaf)
        {
            case 0:
                // Supported XCR0 bits; EBX the area size for the enabled components, ECX for all supported ones
                // (x87 and SSE live in the legacy region, so both are the legacy region plus the header).
                eax = (uint)supported;
                edx = (uint)(supported >> 32);
                ebx = ecx = XsaveUnit.XsaveAreaSize;
                return;
            case 1:
                eax = ExtendedFeatures.Leaf0DSub1Eax;
                ebx = XsaveUnit.XsaveAreaSize; // compacted size for XCR0 | IA32_XSS
                return;
        }
    }

    private static void Vendor(string name, out uint first, out uint second, out uint third)
    {
        first = Pack(name, 0);
        second = Pack(name, 4);
        third = Pack(name, 8);
    }

    private const string BrandString = "Vessel emulated x86-64 CPU";

    private static void Brand(uint part, out uint eax, out uint ebx, out uint ecx, out uint edx)
    {
        int start = (int)part * 16;
        eax = Pack(BrandString, start);
        ebx = Pack(BrandString, start + 4);
        ecx = Pack(BrandString, start + 8);
        edx = Pack(BrandString, start + 12);
    }

    private static uint Pack(string text, int start)
    {
        uint v = 0;
        for (int i = 0; i < 4; i++)
        {
            int at = start + i;
            uint c = at < text.Length ? text[at] : 0u;
            v |= c << (8 * i);
        }
        return v;
    }
}
