
namespace Vessel.Cpu;

/// <summary>The one CPU model the emu backend presents: a GenuineIntel family-6 processor that advertises
/// only what Vessel.Cpu implements. Leaf values that depend on the vCPU (APIC ID) or on guest state (OSXSAVE)
/// are filled in by <see cref="Query"/>.</summary>
internal static class CpuidModel
{
    public const uint MaxBasicLeaf = 0x16;
    public const uint MaxExtendedLeaf = 0x8000_0008;
    public const uint HypervisorLeaf = 0x4000_0000;
    public const string Vendor = "GenuineIntel";
    public const string HypervisorVendor = "VesselVessel";
    public const string Brand = "Vessel emulated x86-64 CPU @ 1.00GHz";

    /// <summary>Family 6, model 0x1A, stepping 5 (the signature in EAX of leaf 1).</summary>
    public const uint Signature = (6 << 8) | (0x1 << 16) | (0xA << 4) | 5;

    // CPUID.1:EDX
    public const uint Leaf1EdxInteger =
        (1u << 2)    // DE: debug extensions (CR4.DE, DR4/DR5 aliasing)
        | (1u << 3)  // PSE
        | (1u << 4)  // TSC
        | (1u << 5)  // MSR
        | (1u << 6)  // PAE
        | (1u << 8)  // CX8
        | (1u << 9)  // APIC
        | (1u << 11) // SEP: SYSENTER/SYSEXIT
        | (1u << 12) // MTRR
        | (1u << 13) // PGE
        | (1u << 15) // CMOV
        | (1u << 16) // PAT
        | (1u << 17) // PSE-36
        | (1u << 19); // CLFSH

    // CPUID.1:ECX
    public const uint Leaf1EcxInteger =
        (1u << 13)   // CX16
        | (1u << 21) // x2APIC
        | (1u << 22) // MOVBE
        | (1u << 23) // POPCNT
        | (1u << 24) // TSC-deadline
        | (1u << 31); // hypervisor present
    public const uint Leaf1EcxOsxsave = 1u << 27;
    public const uint Leaf1EcxXsave = 1u << 26;

    // CPUID.7.0:EBX / ECX
    public const uint Leaf7Ebx =
        (1u << 0)    // FSGSBASE
        | (1u << 7)  // SMEP
        | (1u << 9)  // ERMS
        | (1u << 20); // SMAP
    public const uint Leaf7Ecx = 1u << 22; // RDPID

    // CPUID.80000001:ECX / EDX
    public const uint Ext1Ecx = (1u << 0) | (1u << 5) | (1u << 8); // LAHF/SAHF in 64-bit, ABM (LZCNT), PREFETCHW
    public const uint Ext1Edx =
        (1u << 11)   // SYSCALL/SYSRET
        | (1u << 20) // NX
        | (1u << 26) // 1 GiB pages
        | (1u << 27) // RDTSCP
        | (1u << 29); // long mode

    /// <summary>TSC = crystal × numerator / denominator = 25 MHz × 40 = 1 GHz (GuestClock.TscHz).</summary>
    public const uint CrystalHz = 25_000_000, TscNumerator = 40, TscDenominator = 1;

    /// <summary>The four registers of leaf <paramref name="leaf"/>, sub-leaf <paramref name="subleaf"/>.</summary>
    public static (uint Eax, uint Ebx, uint Ecx, uint Edx) Query(uint leaf, uint subleaf, int apicId, bool osxsave)
    {
        if (leaf > MaxBasicLeaf && !(leaf >= HypervisorLeaf && leaf <= HypervisorLeaf) &&
            !(leaf >= 0x8000_0000 && leaf <= MaxExtendedLeaf))
            leaf = MaxBasicLeaf; // Intel answers out-of-range leaves with the highest basic leaf
        uint id = (uint)apicId;
        switch (leaf)
        {
            case 0:
                return (MaxBasicLeaf, Word(Vendor, 0), Word(Vendor, 8), Word(Vendor, 4));
            case 1:
            {
                uint ecx = Leaf1EcxInteger | ExtendedFeatures.Leaf1Ecx;
                if ((ecx & Leaf1EcxXsave) != 0 && osxsave) ecx |= Leaf1EcxOsxsave;
                uint ebx = (id << 24) | (1u << 16) | (8u << 8); // APIC ID, 1 logical processor, 64-byte CLFLUSH line
                return (Signature, ebx, ecx, Leaf1EdxInteger | ExtendedFeatures.Leaf1Edx);
            }
            case 2:
                return (0x00FF_0001, 0, 0, 0); // 0xFF: use leaf 4 for the caches
            case 4:
                return subleaf switch
                {
                    0 => Cache(1, 1, 8, 64),     // L1 data, 32 KiB
                    1 => Cache(2, 1, 8, 64),     // L1 instruction, 32 KiB
                    2 => Cache(3, 2, 16, 1024),  // L2 unified, 1 MiB
                    _ => (0, 0, 0, 0),
                };
            case 6:
                return (1u << 2, 0, 0, 0); // ARAT: the APIC timer runs in every idle state
            case 7:
                return subleaf == 0 ? (0u, Leaf7Ebx, Leaf7Ecx, 0u) : (0u, 0u, 0u, 0u);
            case 0xB:
                return subleaf switch
                {
                    0 => (0, 1, 0 | (1u << 8), id),            // SMT level: one thread per core
                    1 => (8, 1, 1 | (2u << 8), id),            // core level: APIC ID bits 7:0
                    _ => (0, 0, subleaf & 0xFF, id),
                };
            case 0xD:
            {
                ulong xcr0 = ExtendedFeatures.SupportedXcr0; // a variable: the constant is still zero
                if (xcr0 == 0 || subleaf != 0) return (0, 0, 0, 0);
                return ((uint)xcr0, 576u, 576u, (uint)(xcr0 >> 32));
            }
            case 0x15:
                return (TscDenominator, TscNumerator, CrystalHz, 0);
            case 0x16:
                return (1000, 1000, 100, 0); // base and maximum MHz, bus MHz
            case HypervisorLeaf:
                return (HypervisorLeaf, Word(HypervisorVendor, 0), Word(HypervisorVendor, 4), Word(HypervisorVendor, 8));
            case 0x8000_0000:
                return (MaxExtendedLeaf, 0, 0, 0);
            case 0x8000_0001:
                return (0, 0, Ext1Ecx, Ext1Edx);
            case 0x8000_0002: case 0x8000_0003: case 0x8000_0004:
            {
                int o = (int)(leaf - 0x8000_0002) * 16;
                return (Word(Brand, o), Word(Brand, o + 4), Word(Brand, o + 8), Word(Brand, o + 12));
            }
            case 0x8000_0006:
                return (0, 0, (1024u << 16) | (6u << 12) | 64, 0); // L2: 1 MiB, 8-way, 64-byte lines
            case 0x8000_0007:
                return (0, 0, 0, 1u << 8); // invariant TSC
            case 0x8000_0008:
                return (X86Cpu.PhysicalAddressBits | (48u << 8), 0, 0, 0);
            default:
                return (0, 0, 0, 0);
        }
    }

    /// <summary>Leaf 4 sub-leaf: type (1 data, 2 instruction, 3 unified), level, ways, sets; 64-byte lines.</summary>
    private static (uint, uint, uint, uint) Cache(uint type, uint level, uint ways, uint sets) =>
        (type | (level << 5) | (1u << 8), ((ways - 1) << 22) | 63, sets - 1, 0);

    /// <summary>Four ASCII characters of <paramref name="s"/> from <paramref name="offset"/>, little-endian, NUL-padded.</summary>
    private static uint Word(string s, int offset)
    {
        uint v = 0;
        for (int i = 0; i < 4; i++)
        {
            int k = offset + i;
            uint c = k < s.Length ? s[k] : 0u;
            v |= (c & 0xFF) << (8 * i);
        }
        return v;
    }
}
