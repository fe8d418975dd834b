using System.Runtime.InteropServices;
using Vessel.Hypervisor;

namespace Vessel.Kvm;

/// <summary>The kvm backend: the /dev/kvm system fd.</summary>
public sealed unsafe class KvmHypervisor : IHypervisor
{
    public const string DefaultDevice = "/dev/kvm";
    public const int ApiVersion = 12;

    private static readonly (int Cap, string Name)[] RequiredCapabilities =
    [
        (KvmCap.Irqchip, "KVM_CAP_IRQCHIP"), (KvmCap.Hlt, "KVM_CAP_HLT"), (KvmCap.UserMemory, "KVM_CAP_USER_MEMORY"),
        (KvmCap.SetTssAddr, "KVM_CAP_SET_TSS_ADDR"), (KvmCap.ExtCpuid, "KVM_CAP_EXT_CPUID"), (KvmCap.Pit2, "KVM_CAP_PIT2"),
        (KvmCap.SetIdentityMapAddr, "KVM_CAP_SET_IDENTITY_MAP_ADDR"), (KvmCap.ImmediateExit, "KVM_CAP_IMMEDIATE_EXIT"),
    ];

    private int _fd;

    private KvmHypervisor(int fd, HypervisorCapabilities capabilities, int vcpuMmapSize, bool irqRouting)
    {
        _fd = fd;
        Capabilities = capabilities;
        VcpuMmapSize = vcpuMmapSize;
        IrqRouting = irqRouting;
    }

    public string Name => "kvm";

    public HypervisorCapabilities Capabilities { get; }

    internal int VcpuMmapSize { get; }

    /// <summary>KVM_CAP_IRQ_ROUTING: MSI-X vectors can be GSIs with irqfds (else each raise is a KVM_SIGNAL_MSI).</summary>
    internal bool IrqRouting { get; }

    internal int Fd => _fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(KvmHypervisor));

    /// <summary>Opens <paramref name="device"/> and checks the API version and the capabilities Vessel relies on.
    /// Throws <see cref="KvmUnavailableException"/> with the reason; no descriptor is left open on failure.</summary>
    public static KvmHypervisor Open(string device = DefaultDevice)
    {
        int fd = KvmNative.Open(device, KvmNative.ORdWr | KvmNative.OCloExec);
        if (fd < 0) throw OpenFailure(device, Marshal.GetLastPInvokeError());
        try
        {
            int version = KvmNative.Ioctl(fd, KvmIoctls.GetApiVersion, 0);
            if (version < 0)
                throw new KvmUnavailableException($"{device} is not a KVM device: KVM_GET_API_VERSION failed: {KvmNative.Describe(Marshal.GetLastPInvokeError())}");
            if (version != ApiVersion)
                throw new KvmUnavailableException($"{device} speaks KVM API version {version}, Vessel needs {ApiVersion}");
            foreach (var (cap, name) in RequiredCapabilities)
                if (KvmNative.Ioctl(fd, KvmIoctls.CheckExtension, cap) <= 0)
                    throw new KvmUnavailableException($"{device} lacks {name}, which Vessel relies on");
            int mmapSize = KvmNative.Ioctl(fd, KvmIoctls.GetVcpuMmapSize, 0);
            if (mmapSize < 4096)
                throw new KvmUnavailableException($"{device}: KVM_GET_VCPU_MMAP_SIZE returned {mmapSize}");
            int maxVcpus = KvmNative.Ioctl(fd, KvmIoctls.CheckExtension, KvmCap.MaxVcpus);
            if (maxVcpus <= 0) maxVcpus = KvmNative.Ioctl(fd, KvmIoctls.CheckExtension, KvmCap.NrVcpus);
            if (maxVcpus <= 0) maxVcpus = 4; // the documented default when neither capability answers
            int slots = KvmNative.Ioctl(fd, KvmIoctls.CheckExtension, KvmCap.NrMemslots);
            bool msi = KvmNative.Ioctl(fd, KvmIoctls.CheckExtension, KvmCap.SignalMsi) > 0;
            bool ioEvents = KvmNative.Ioctl(fd, KvmIoctls.CheckExtension, KvmCap.Ioeventfd) > 0
                && KvmNative.Ioctl(fd, KvmIoctls.CheckExtension, KvmCap.Irqfd) > 0;
            bool irqRouting = KvmNative.Ioctl(fd, KvmIoctls.CheckExtension, KvmCap.IrqRouting) > 0;
            return new KvmHypervisor(fd,
                new HypervisorCapabilities(maxVcpus, slots > 0 ? slots : 32, InKernelIrqChip: true, Msi: msi, IoEvents: ioEvents), mmapSize, irqRouting);
        }
        catch
        {
            KvmNative.Close(fd);
            throw;
        }
    }

    /// <summary>Why open(2) of <paramref name="device"/> failed with <paramref name="errno"/>, in words a user can act on.</summary>
    internal static KvmUnavailableException OpenFailure(string device, int errno) => errno switch
    {
        KvmNative.ENoEnt => new KvmUnavailableException($"{device} does not exist (no KVM on this machine)", deviceMissing: true),
        KvmNative.EAcces or KvmNative.EPerm => new KvmUnavailableException(
            $"{device} exists but cannot be opened: permission denied (is the user in the 'kvm' group?)"),
        KvmNative.EBusy => new KvmUnavailableException($"{device} exists but is busy (another hypervisor holds the CPU's virtualization extensions)"),
        KvmNative.ENoDev or KvmNative.ENxio => new KvmUnavailableException($"{device} exists but no KVM driver answers it (kvm module not loaded?)"),
        _ => new KvmUnavailableException($"{device} cannot be opened: {KvmNative.Describe(errno)}"),
    };

    public IVirtualMachine CreateVirtualMachine() => KvmVirtualMachine.Create(this);

    /// <summary>The CPUID leaves KVM can present on this host (KVM_GET_SUPPORTED_CPUID).</summary>
    internal KvmCpuidEntry2[] GetSupportedCpuid()
    {
        for (int n = 128; n <= 4096; n *= 2)
        {
            int bytes = sizeof(KvmCpuid2Header) + n * sizeof(KvmCpuidEntry2);
            byte* buffer = (byte*)NativeMemory.AllocZeroed((nuint)bytes);
            try
            {
                ((KvmCpuid2Header*)buffer)->Nent = (uint)n;
                if (KvmNative.Ioctl(Fd, KvmIoctls.GetSupportedCpuid, buffer) < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == KvmNative.E2Big) continue;
                    throw new KvmException($"KVM_GET_SUPPORTED_CPUID failed: {KvmNative.Describe(errno)}");
                }
                int count = (int)((KvmCpuid2Header*)buffer)->Nent;
                return new ReadOnlySpan<KvmCpuidEntry2>(buffer + sizeof(KvmCpuid2Header), count).ToArray();
            }
            finally
            {
                NativeMemory.Free(buffer);
            }
        }
        throw new KvmException("KVM_GET_SUPPORTED_CPUID: more than 4096 leaves");
    }

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) KvmNative.Close(fd);
    }
}
