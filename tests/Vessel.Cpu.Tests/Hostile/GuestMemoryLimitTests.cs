using Vessel.Hypervisor;

namespace Vessel.Cpu.Tests.Hostile;

/// <summary>The emu backend sizes its code-page map from the end of guest RAM: an 8 TiB machine (the CLI's
/// validator bypassed, as through the library) once threw OverflowException from that array. Memory past the 40
/// physical address bits the CPU reports is refused with the exception the VMM reports as a size error.</summary>
public class GuestMemoryLimitTests
{
    [Fact]
    public void EightTiBOfRamIsRefusedAsUnavailableMemory()
    {
        using var hypervisor = new EmuHypervisor();
        using var vm = hypervisor.CreateVirtualMachine();
        using var region = new GuestMemoryRegion(8UL << 40); // MAP_NORESERVE: nothing is touched
        var ex = Assert.Throws<GuestMemoryUnavailableException>(() => vm.SetMemoryRegion(0, 0, region));
        Assert.Contains("1024 GiB", ex.Message);
        Assert.Empty(vm.Memory.Slots);
    }

    [Fact]
    public void ASlotWhoseEndWrapsOrPassesTheAddressWidthIsRefused()
    {
        using var hypervisor = new EmuHypervisor();
        using var vm = hypervisor.CreateVirtualMachine();
        using var region = new GuestMemoryRegion(1 << 20);
        Assert.Throws<GuestMemoryUnavailableException>(() => vm.SetMemoryRegion(0, ulong.MaxValue & ~0xFFFUL, region));
        Assert.Throws<GuestMemoryUnavailableException>(() => vm.SetMemoryRegion(1, (1UL << 40) - 0x1000, region));
        vm.SetMemoryRegion(2, 1 << 20, region);
        Assert.Single(vm.Memory.Slots);
    }
}
