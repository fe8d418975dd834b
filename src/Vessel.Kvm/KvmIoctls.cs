using System.Runtime.CompilerServices;

namespace Vessel.Kvm;

/// <summary>The /dev/kvm ioctl request numbers, built as &lt;linux/ioctl.h&gt; does from KVMIO (0xAE), the
/// command number and the argument struct's size. The layout test checks every one against &lt;linux/kvm.h&gt;.</summary>
internal static unsafe class KvmIoctls
{
    private const uint KvmIo = 0xAE;
    private const uint DirWrite = 1, DirRead = 2;

    private static nuint Io(uint nr) => (KvmIo << 8) | nr;
    private static nuint IoW(uint nr, int size) => (DirWrite << 30) | ((uint)size << 16) | (KvmIo << 8) | nr;
    private static nuint IoR(uint nr, int size) => (DirRead << 30) | ((uint)size << 16) | (KvmIo << 8) | nr;
    private static nuint IoWR(uint nr, int size) => ((DirRead | DirWrite) << 30) | ((uint)size << 16) | (KvmIo << 8) | nr;

    // System ioctls (on the /dev/kvm fd).
    public static readonly nuint GetApiVersion = Io(0x00);
    public static readonly nuint CreateVm = Io(0x01);
    public static readonly nuint CheckExtension = Io(0x03);
    public static readonly nuint GetVcpuMmapSize = Io(0x04);
    public static readonly nuint GetSupportedCpuid = IoWR(0x05, sizeof(KvmCpuid2Header));

    // VM ioctls.
    public static readonly nuint CreateVcpu = Io(0x41);
    public static readonly nuint SetUserMemoryRegion = IoW(0x46, sizeof(KvmUserspaceMemoryRegion));
    public static readonly nuint SetTssAddr = Io(0x47);
    public static readonly nuint SetIdentityMapAddr = IoW(0x48, sizeof(ulong));
    public static readonly nuint CreateIrqchip = Io(0x60);
    public static readonly nuint IrqLine = IoW(0x61, sizeof(KvmIrqLevel));
    public static readonly nuint CreatePit2 = IoW(0x77, sizeof(KvmPitConfig));
    public static readonly nuint SignalMsi = IoW(0xA5, sizeof(KvmMsi));
    public static readonly nuint SetGsiRouting = IoW(0x6A, sizeof(KvmIrqRoutingHeader));
    public static readonly nuint Irqfd = IoW(0x76, sizeof(KvmIrqfd));
    public static readonly nuint Ioeventfd = IoW(0x79, sizeof(KvmIoeventfd));

    // vCPU ioctls.
    public static readonly nuint Run = Io(0x80);
    public static readonly nuint GetRegs = IoR(0x81, sizeof(KvmRegs));
    public static readonly nuint SetRegs = IoW(0x82, sizeof(KvmRegs));
    public static readonly nuint GetSregs = IoR(0x83, sizeof(KvmSregs));
    public static readonly nuint SetSregs = IoW(0x84, sizeof(KvmSregs));
    public static readonly nuint GetMsrs = IoWR(0x88, sizeof(KvmMsrsHeader));
    public static readonly nuint SetMsrs = IoW(0x89, sizeof(KvmMsrsHeader));
    public static readonly nuint GetFpu = IoR(0x8C, sizeof(KvmFpu));
    public static readonly nuint SetFpu = IoW(0x8D, sizeof(KvmFpu));
    public static readonly nuint GetLapic = IoR(0x8E, sizeof(KvmLapicState));
    public static readonly nuint SetLapic = IoW(0x8F, sizeof(KvmLapicState));
    public static readonly nuint SetCpuid2 = IoW(0x90, sizeof(KvmCpuid2Header));

    /// <summary>Every request number by its &lt;linux/kvm.h&gt; name, for the layout test.</summary>
    public static IReadOnlyDictionary<string, nuint> ByName() => new Dictionary<string, nuint>
    {
        ["KVM_GET_API_VERSION"] = GetApiVersion, ["KVM_CREATE_VM"] = CreateVm,
        ["KVM_CHECK_EXTENSION"] = CheckExtension, ["KVM_GET_VCPU_MMAP_SIZE"] = GetVcpuMmapSize,
        ["KVM_GET_SUPPORTED_CPUID"] = GetSupportedCpuid, ["KVM_CREATE_VCPU"] = CreateVcpu,
        ["KVM_SET_USER_MEMORY_REGION"] = SetUserMemoryRegion, ["KVM_SET_TSS_ADDR"] = SetTssAddr,
        ["KVM_SET_IDENTITY_MAP_ADDR"] = SetIdentityMapAddr, ["KVM_CREATE_IRQCHIP"] = CreateIrqchip,
        ["KVM_IRQ_LINE"] = IrqLine, ["KVM_CREATE_PIT2"] = CreatePit2, ["KVM_SIGNAL_MSI"] = SignalMsi,
        ["KVM_SET_GSI_ROUTING"] = SetGsiRouting,
        ["KVM_IRQFD"] = Irqfd, ["KVM_IOEVENTFD"] = Ioeventfd,
        ["KVM_RUN"] = Run, ["KVM_GET_REGS"] = GetRegs, ["KVM_SET_REGS"] = SetRegs,
        ["KVM_GET_SREGS"] = GetSregs, ["KVM_SET_SREGS"] = SetSregs, ["KVM_GET_MSRS"] = GetMsrs,
        ["KVM_SET_MSRS"] = SetMsrs, ["KVM_GET_FPU"] = GetFpu, ["KVM_SET_FPU"] = SetFpu,
        ["KVM_GET_LAPIC"] = GetLapic, ["KVM_SET_LAPIC"] = SetLapic, ["KVM_SET_CPUID2"] = SetCpuid2,
    };
}

/// <summary>KVM_CAP_* numbers Vessel asks KVM_CHECK_EXTENSION about.</summary>
internal static class KvmCap
{
    public const int Irqchip = 0, Hlt = 1, UserMemory = 3, SetTssAddr = 4, ExtCpuid = 7, NrVcpus = 9, NrMemslots = 10, IrqRouting = 25;
    public const int Irqfd = 32, Pit2 = 33, Ioeventfd = 36, SetIdentityMapAddr = 37, MaxVcpus = 66, SignalMsi = 77, ImmediateExit = 136;

    public static IReadOnlyDictionary<string, int> ByName() => new Dictionary<string, int>
    {
        ["KVM_CAP_IRQCHIP"] = Irqchip, ["KVM_CAP_HLT"] = Hlt, ["KVM_CAP_USER_MEMORY"] = UserMemory,
        ["KVM_CAP_SET_TSS_ADDR"] = SetTssAddr, ["KVM_CAP_EXT_CPUID"] = ExtCpuid, ["KVM_CAP_NR_VCPUS"] = NrVcpus,
        ["KVM_CAP_NR_MEMSLOTS"] = NrMemslots, ["KVM_CAP_PIT2"] = Pit2, ["KVM_CAP_SET_IDENTITY_MAP_ADDR"] = SetIdentityMapAddr,
        ["KVM_CAP_MAX_VCPUS"] = MaxVcpus, ["KVM_CAP_IRQFD"] = Irqfd, ["KVM_CAP_IOEVENTFD"] = Ioeventfd, ["KVM_CAP_SIGNAL_MSI"] = SignalMsi, ["KVM_CAP_IMMEDIATE_EXIT"] = ImmediateExit,
        ["KVM_CAP_IRQ_ROUTING"] = IrqRouting,
    };
}

/// <summary>kvm_run.exit_reason values.</summary>
internal static class KvmExit
{
    public const uint Unknown = 0, Exception = 1, Io = 2, Hypercall = 3, Debug = 4, Hlt = 5, Mmio = 6;
    public const uint IrqWindowOpen = 7, Shutdown = 8, FailEntry = 9, Intr = 10, InternalError = 17, SystemEvent = 24;
    public const byte IoIn = 0, IoOut = 1;

    public static IReadOnlyDictionary<string, long> ByName() => new Dictionary<string, long>
    {
        ["KVM_EXIT_UNKNOWN"] = Unknown, ["KVM_EXIT_EXCEPTION"] = Exception, ["KVM_EXIT_IO"] = Io,
        ["KVM_EXIT_HYPERCALL"] = Hypercall, ["KVM_EXIT_DEBUG"] = Debug, ["KVM_EXIT_HLT"] = Hlt, ["KVM_EXIT_MMIO"] = Mmio,
        ["KVM_EXIT_IRQ_WINDOW_OPEN"] = IrqWindowOpen, ["KVM_EXIT_SHUTDOWN"] = Shutdown, ["KVM_EXIT_FAIL_ENTRY"] = FailEntry,
        ["KVM_EXIT_INTR"] = Intr, ["KVM_EXIT_INTERNAL_ERROR"] = InternalError, ["KVM_EXIT_SYSTEM_EVENT"] = SystemEvent,
        ["KVM_EXIT_IO_IN"] = IoIn, ["KVM_EXIT_IO_OUT"] = IoOut, ["KVM_API_VERSION"] = 12,
        ["KVM_PIT_SPEAKER_DUMMY"] = KvmPitConfig.SpeakerDummy,
        ["KVM_IOEVENTFD_FLAG_DATAMATCH"] = KvmIoeventfd.FlagDatamatch, ["KVM_IOEVENTFD_FLAG_PIO"] = KvmIoeventfd.FlagPio,
        ["KVM_IOEVENTFD_FLAG_DEASSIGN"] = KvmIoeventfd.FlagDeassign, ["KVM_IRQFD_FLAG_DEASSIGN"] = KvmIrqfd.FlagDeassign,
        ["KVM_IRQ_ROUTING_IRQCHIP"] = KvmIrqRoutingEntry.TypeIrqchip, ["KVM_IRQ_ROUTING_MSI"] = KvmIrqRoutingEntry.TypeMsi,
        ["KVM_IRQCHIP_PIC_MASTER"] = KvmIrqRoutingEntry.IrqchipPicMaster, ["KVM_IRQCHIP_PIC_SLAVE"] = KvmIrqRoutingEntry.IrqchipPicSlave,
        ["KVM_IRQCHIP_IOAPIC"] = KvmIrqRoutingEntry.IrqchipIoapic,
    };
}
