namespace Vessel.Vmm.Tests;

public class GuestRamLayoutTests
{
    [Fact]
    public void SmallMachineHasOneBankAtZero() =>
        Assert.Equal([new GuestRamLayout.Bank(0, 0, 512UL << 20)], GuestRamLayout.ForPc(512UL << 20));

    [Fact]
    public void SizeIsRoundedUpToAPage() =>
        Assert.Equal(0x101000UL, GuestRamLayout.ForPc(0x100001)[0].Size);

    [Fact]
    public void ExactlyThreeGiBIsOneBank() => Assert.Single(GuestRamLayout.ForPc(3UL << 30));

    [Fact]
    public void RamBeyondThreeGiBContinuesAtFourGiB() =>
        Assert.Equal(
            [new GuestRamLayout.Bank(0, 0, 3UL << 30), new GuestRamLayout.Bank(1, 4UL << 30, 2UL << 30)],
            GuestRamLayout.ForPc(5UL << 30));

    [Fact]
    public void TheMachineMapsEveryBank()
    {
        var hypervisor = new Fakes.FakeHypervisor();
        using var machine = new MachineBuilder(hypervisor, new MachineConfig { MemoryBytes = 4UL << 30, StandardDevices = false }).Build();
        var slots = machine.Memory.Slots;
        Assert.Equal(2, slots.Count);
        Assert.Equal((0UL, 3UL << 30), (slots[0].GuestAddress, slots[0].Region.Size));
        Assert.Equal((4UL << 30, 1UL << 30), (slots[1].GuestAddress, slots[1].Region.Size));
    }
}
