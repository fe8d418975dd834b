using Vessel.Hypervisor;

namespace Vessel.Vmm;

/// <summary>Where guest RAM lives in the PC layout: one region from 0 up to 3 GiB, and whatever exceeds
/// 3 GiB in a second region at 4 GiB, above the 32-bit MMIO hole (<see cref="PcLayout"/>; as Vessel.Boot's
/// MemoryMap.ForPc).</summary>
public static class GuestRamLayout
{

    public readonly record struct Bank(int Slot, ulong GuestAddress, ulong Size);

    public static ulong RoundToPages(ulong bytes) =>
        (bytes + GuestMemoryRegion.PageSize - 1) & ~(GuestMemoryRegion.PageSize - 1);

    public static IReadOnlyList<Bank> ForPc(ulong ramBytes)
    {
        ulong size = RoundToPages(ramBytes);
        if (size == 0) throw new ArgumentOutOfRangeException(nameof(ramBytes), "a machine needs some RAM");
        if (size <= PcLayout.MmioHoleStart) return [new Bank(0, 0, size)];
        return [new Bank(0, 0, PcLayout.MmioHoleStart), new Bank(1, PcLayout.HighMemoryStart, size - PcLayout.MmioHoleStart)];
    }
}
