using System.Runtime.InteropServices;
using Vessel.Hypervisor;

namespace Vessel.Kvm;

/// <summary>A KVM VM fd with the in-kernel irqchip (PIC, IOAPIC, LAPICs) and PIT.</summary>
public sealed unsafe partial class KvmVirtualMachine : IVirtualMachine
{
    /// <summary>Three pages KVM needs for the real-mode TSS on Intel, just below the BIOS area at 4 GiB.</summary>
    public const ulong TssAddress = PcLayout.KvmTssAddress;
    /// <summary>One page for the identity-mapped page table Intel's unrestricted-guest-less mode uses.</summary>
    public const ulong IdentityMapAddress = PcLayout.KvmIdentityMapAddress;

    private readonly KvmHypervisor _hypervisor;
    private readonly List<KvmVcpu> _vcpus = new();
    private KvmCpuidEntry2[]? _supportedCpuid;
    private int _fd;

    private KvmVirtualMachine(KvmHypervisor hypervisor, int fd)
    {
        _hypervisor = hypervisor;
        _fd = fd;
    }

    public GuestMemory Memory { get; } = new();

    internal int Fd => _fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(KvmVirtualMachine));

    internal static KvmVirtualMachine Create(KvmHypervisor hypervisor)
    {
        int fd;
        do fd = KvmNative.Ioctl(hypervisor.Fd, KvmIoctls.CreateVm, 0);
        while (fd < 0 && Marshal.GetLastPInvokeError() == KvmNative.EIntr);
        if (fd < 0) throw new KvmException($"KVM_CREATE_VM failed: {KvmNative.Describe(Marshal.GetLastPInvokeError())}");
        var vm = new KvmVirtualMachine(hypervisor, fd);
        try
        {
            vm.Check(KvmNative.Ioctl(fd, KvmIoctls.SetTssAddr, unchecked((nint)TssAddress)), "KVM_SET_TSS_ADDR");
            ulong identityMap = IdentityMapAddress;
            vm.Check(KvmNative.Ioctl(fd, KvmIoctls.SetIdentityMapAddr, &identityMap), "KVM_SET_IDENTITY_MAP_ADDR");
            vm.Check(KvmNative.Ioctl(fd, KvmIoctls.CreateIrqchip, 0), "KVM_CREATE_IRQCHIP");
            KvmPitConfig pit = default;
            pit.Flags = KvmPitConfig.SpeakerDummy;
            vm.Check(KvmNative.Ioctl(fd, KvmIoctls.CreatePit2, &pit), "KVM_CREATE_PIT2");
            return vm;
        }
        catch
        {
            vm.Dispose();
            throw;
        }
    }

    public void SetMemoryRegion(int slot, ulong guestPhysicalAddress, GuestMemoryRegion region)
    {
        if (slot < 0 || slot >= _hypervisor.Capabilities.MaxMemorySlots)
            throw new ArgumentOutOfRangeException(nameof(slot), $"memory slot {slot} is outside 0..{_hypervisor.Capabilities.MaxMemorySlots - 1}");
        Memory.Map(slot, guestPhysicalAddress, region);
        var r = new KvmUserspaceMemoryRegion
        {
            Slot = (uint)slot, GuestPhysAddr = guestPhysicalAddress, MemorySize = region.Size, UserspaceAddr = (ulong)region.HostAddress,
        };
        if (KvmNative.Ioctl(Fd, KvmIoctls.SetUserMemoryRegion, &r) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Memory.Unmap(slot);
            // KVM_MEM_MAX_NR_PAGES: a slot holds fewer than 2^31 pages.
            string hint = region.Size / GuestMemoryRegion.PageSize >= 1UL << 31 ? " (KVM takes less than 8 TiB in one memory slot)" : "";
            throw new GuestMemoryUnavailableException(
                $"KVM refused {region.Size >> 20} MiB of guest memory at 0x{guestPhysicalAddress:x} (KVM_SET_USER_MEMORY_REGION slot {slot}): {KvmNative.Describe(errno)}{hint}");
        }
    }

    public void RemoveMemoryRegion(int slot)
    {
        var r = new KvmUserspaceMemoryRegion { Slot = (uint)slot };
        foreach (var s in Memory.Slots)
            if (s.Id == slot) r.GuestPhysAddr = s.GuestAddress;
        Check(KvmNative.Ioctl(Fd, KvmIoctls.SetUserMemoryRegion, &r), "KVM_SET_USER_MEMORY_REGION (remove)");
        Memory.Unmap(slot);
    }

    public IVcpu CreateVcpu(int id)
    {
        int max = _hypervisor.Capabilities.MaxVcpus;
        if (id < 0 || id >= max)
            throw new ArgumentOutOfRangeException(nameof(id), $"vCPU id {id} is outside 0..{max - 1} (KVM_CAP_MAX_VCPUS)");
        lock (_vcpus)
        {
            if (_vcpus.Exists(v => v.Id == id)) throw new InvalidOperationException($"vCPU {id} already exists");
            _supportedCpuid ??= _hypervisor.GetSupportedCpuid();
            var vcpu = KvmVcpu.Create(this, id, _hypervisor.VcpuMmapSize, _supportedCpuid);
            _vcpus.Add(vcpu);
            return vcpu;
        }
    }

    public void SetIrqLine(uint gsi, bool level)
    {
        var irq = new KvmIrqLevel { Irq = gsi, Level = level ? 1u : 0u };
        Check(KvmNative.Ioctl(Fd, KvmIoctls.IrqLine, &irq), $"KVM_IRQ_LINE gsi {gsi}");
    }

    public void SignalMsi(ulong address, uint data)
    {
        var msi = new KvmMsi { AddressLo = (uint)address, AddressHi = (uint)(address >> 32), Data = data };
        // 0 means the guest blocked it, which is not an error.
        Check(KvmNative.Ioctl(Fd, KvmIoctls.SignalMsi, &msi), $"KVM_SIGNAL_MSI 0x{address:x}/0x{data:x}");
    }

    private void Check(int result, string what)
    {
        if (result < 0) throw new KvmException($"{what} failed: {KvmNative.Describe(Marshal.GetLastPInvokeError())}");
    }

    public void Dispose()
    {
        lock (_vcpus)
        {
            foreach (var v in _vcpus) v.Dispose();
            _vcpus.Clear();
        }
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) KvmNative.Close(fd);
    }
}
