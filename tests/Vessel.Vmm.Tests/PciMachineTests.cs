using Vessel.Virtio.Block;
using Vessel.Vmm.Tests.Fakes;

namespace Vessel.Vmm.Tests;

/// <summary>The PCI bus as the machine installs it: config mechanism #1 on the port bus, the host bridge, and
/// virtio-pci disks whose BARs answer on the MMIO bus.</summary>
public sealed class PciMachineTests : IDisposable
{
    private readonly string _image = Path.GetTempFileName();

    public PciMachineTests() => File.WriteAllBytes(_image, new byte[64 * 1024]);

    public void Dispose() => File.Delete(_image);

    private static uint ReadConfig(Machine machine, int slot, int offset)
    {
        machine.Ports.Write(0xCF8, 4, 0x8000_0000u | (uint)slot << 11 | (uint)offset);
        return machine.Ports.Read(0xCFC, 4);
    }

    [Fact]
    public void HostBridgeAndOneVirtioBlockFunctionPerDiskAreOnBusZero()
    {
        using var machine = new MachineBuilder(new FakeHypervisor(), new MachineConfig
        {
            MemoryBytes = 16 << 20,
            Disks = [new VirtioBlockOptions(_image), new VirtioBlockOptions(_image, ReadOnly: true)],
        }).Build();

        Assert.Equal(0x0600_0000u, ReadConfig(machine, 0, 0x08) & 0xFFFF_FF00);
        Assert.Equal(0x1042_1AF4u, ReadConfig(machine, 1, 0x00));
        Assert.Equal(0x1042_1AF4u, ReadConfig(machine, 2, 0x00));
        Assert.Equal(0xFFFF_FFFFu, ReadConfig(machine, 3, 0x00));

        // BAR 2 (64-bit) holds the common configuration: one queue, and the disk's 128 sectors in the device config.
        ulong bar2 = ReadConfig(machine, 1, 0x18) & ~0xFu | (ulong)ReadConfig(machine, 1, 0x1C) << 32;
        Assert.InRange(bar2, 0xC000_0000UL, 0xFEBF_FFFFUL);
        Assert.Equal(1UL, machine.Mmio.Read(bar2 + 0x12, 2));
        Assert.Equal(128UL, machine.Mmio.Read(bar2 + 0x2000, 8));
        ulong otherBar2 = ReadConfig(machine, 2, 0x18) & ~0xFu | (ulong)ReadConfig(machine, 2, 0x1C) << 32;
        Assert.NotEqual(bar2, otherBar2);
    }

    [Fact]
    public void AMissingDiskFailsTheBuildWithItsPath()
    {
        var hypervisor = new FakeHypervisor();
        var e = Assert.Throws<DiskImageException>(() => new MachineBuilder(hypervisor, new MachineConfig
        {
            MemoryBytes = 16 << 20,
            Disks = [new VirtioBlockOptions(_image), new VirtioBlockOptions("/nonexistent/disk.img")],
        }).Build());
        Assert.Contains("/nonexistent/disk.img", e.Message);
        Assert.True(hypervisor.Machines[0].Disposed);
    }
}
