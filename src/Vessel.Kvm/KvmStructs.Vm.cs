using System.Runtime.InteropServices;

namespace Vessel.Kvm;

/// <summary>struct kvm_userspace_memory_region.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmUserspaceMemoryRegion
{
    public uint Slot, Flags;
    public ulong GuestPhysAddr, MemorySize, UserspaceAddr;
}

/// <summary>struct kvm_pit_config.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct KvmPitConfig
{
    /// <summary>KVM_PIT_SPEAKER_DUMMY: port 0x61 is handled in the kernel.</summary>
    public const uint SpeakerDummy = 1;
    public uint Flags;
    public fixed uint Pad[15];
}

/// <summary>struct kvm_irq_level (irq and status share the first word).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmIrqLevel
{
    public uint Irq, Level;
}

/// <summary>struct kvm_msi.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct KvmMsi
{
    public uint AddressLo, AddressHi, Data, Flags, Devid;
    public fixed byte Pad[12];
}

/// <summary>struct kvm_cpuid2 (header; kvm_cpuid_entry2 items follow).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmCpuid2Header
{
    public uint Nent, Padding;
}

/// <summary>struct kvm_cpuid_entry2.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct KvmCpuidEntry2
{
    public uint Function, Index, Flags, Eax, Ebx, Ecx, Edx;
    public fixed uint Padding[3];
}

/// <summary>struct kvm_ioeventfd.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct KvmIoeventfd
{
    public const uint FlagDatamatch = 1 << 0, FlagPio = 1 << 1, FlagDeassign = 1 << 2;
    public ulong Datamatch, Addr;
    public uint Len;
    public int Fd;
    public uint Flags;
    public fixed byte Pad[36];
}

/// <summary>struct kvm_irqfd.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct KvmIrqfd
{
    public const uint FlagDeassign = 1 << 0;
    public uint Fd, Gsi, Flags, Resamplefd;
    public fixed byte Pad[16];
}

/// <summary>struct kvm_irq_routing (header; kvm_irq_routing_entry items follow).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmIrqRoutingHeader
{
    public uint Nr, Flags;
}

/// <summary>struct kvm_irq_routing_entry with the two members of its union Vessel uses: irqchip and msi.</summary>
[StructLayout(LayoutKind.Explicit, Size = 48)]
internal struct KvmIrqRoutingEntry
{
    public const uint TypeIrqchip = 1, TypeMsi = 2;
    public const uint IrqchipPicMaster = 0, IrqchipPicSlave = 1, IrqchipIoapic = 2;

    [FieldOffset(0)] public uint Gsi;
    [FieldOffset(4)] public uint Type;
    [FieldOffset(8)] public uint Flags;
    [FieldOffset(12)] public uint Pad;
    [FieldOffset(16)] public uint Irqchip;
    [FieldOffset(20)] public uint IrqchipPin;
    [FieldOffset(16)] public uint MsiAddressLo;
    [FieldOffset(20)] public uint MsiAddressHi;
    [FieldOffset(24)] public uint MsiData;
    [FieldOffset(28)] public uint MsiDevid;
}
