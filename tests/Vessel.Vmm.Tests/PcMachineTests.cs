using System.Text;
using Vessel.Boot;
using Vessel.Hypervisor;
using Vessel.Vmm.Tests.Fakes;

namespace Vessel.Vmm.Tests;

/// <summary>The machine with its standard devices, driven by scripted exits.</summary>
public class PcMachineTests
{
    private static (MachineExit Exit, string Serial, FakeHypervisor Hypervisor) Run(params VcpuExit[] script)
    {
        var hypervisor = new FakeHypervisor((_, _) => Script.Of(script));
        var serial = new MemoryStream();
        using var machine = new MachineBuilder(hypervisor, new MachineConfig { MemoryBytes = 16 << 20, SerialOutput = serial }).Build();
        machine.Start();
        var exit = machine.WaitForExit(TimeSpan.FromSeconds(10));
        Assert.NotNull(exit);
        return (exit, Encoding.ASCII.GetString(serial.ToArray()), hypervisor);
    }

    [Fact]
    public void SerialThenDebugExitThroughTheRealDevices()
    {
        var (exit, serial, _) = Run(VcpuExit.IoOut(0x3f8, 1, 'h'), VcpuExit.IoOut(0x3f8, 1, 'i'), VcpuExit.IoOut(0xf4, 1, 1));
        Assert.Equal("hi", serial);
        Assert.Equal(3, exit.Status);
        Assert.Equal(MachineExitKind.GuestExit, exit.Kind);
    }

    [Fact]
    public void I8042ResetEndsTheVmWithStatusZero()
    {
        var (exit, _, _) = Run(VcpuExit.IoOut(0x64, 1, 0xFE), VcpuExit.IoOut(0xf4, 1, 7));
        Assert.Equal(MachineExitKind.Reset, exit.Kind);
        Assert.Equal(0, exit.Status);
    }

    [Fact]
    public void FwCfgSignatureAndLineStatusAreReadable()
    {
        var (_, _, hypervisor) = Run(
            VcpuExit.IoOut(0x510, 2, 0), VcpuExit.IoIn(0x511, 1), VcpuExit.IoIn(0x511, 1),
            VcpuExit.IoIn(0x3fd, 1), VcpuExit.IoOut(0xf4, 1, 0));
        var reads = hypervisor.Machines[0].Vcpus[0].CompletedReads;
        Assert.Equal((ulong)'Q', reads[0]);
        Assert.Equal((ulong)'E', reads[1]);
        Assert.NotEqual(0UL, reads[2] & 0x20); // THR empty
    }

    [Fact]
    public void SerialInputRaisesCom1Irq()
    {
        // IER: received-data interrupt; MCR: OUT2, which gates the IRQ on a PC.
        var hypervisor = new FakeHypervisor((_, _) => Script.Of(VcpuExit.IoOut(0x3f9, 1, 1), VcpuExit.IoOut(0x3fc, 1, 0x08)));
        using var machine = new MachineBuilder(hypervisor, new MachineConfig { MemoryBytes = 16 << 20 }).Build();
        machine.Start();
        Assert.True(SpinWait.SpinUntil(() => hypervisor.Machines[0].Vcpus[0].RunCount >= 3, 30_000));
        machine.SendToSerial("a"u8);
        lock (hypervisor.Machines[0].IrqChanges)
            Assert.Contains((4u, true), hypervisor.Machines[0].IrqChanges);
    }

    [Fact]
    public void StandardDevicesDoNotOverlap()
    {
        using var machine = new MachineBuilder(new FakeHypervisor(), new MachineConfig { MemoryBytes = 16 << 20 }).Build();
        Assert.NotNull(machine.Ports.DeviceAt(0x3f8));
        Assert.NotNull(machine.Ports.DeviceAt(0x64));
        Assert.NotNull(machine.Ports.DeviceAt(0x71));
        Assert.NotNull(machine.Ports.DeviceAt(0x80));
        Assert.NotNull(machine.Ports.DeviceAt(0x511));
        Assert.NotNull(machine.Ports.DeviceAt(0x2017));
        Assert.NotNull(machine.Mmio.DeviceAt(0xff00_ffff));
    }

    [Fact]
    public void PcTestDevIsWhereKvmUnitTestsLookForIt()
    {
        using var machine = new MachineBuilder(new FakeHypervisor(), new MachineConfig { MemoryBytes = 16 << 20 }).Build();
        machine.Ports.Write(0xe0, 4, 0x1234_5678); // the scratch register, also seen a byte at a time at 0xe8
        Assert.Equal(0x56u, machine.Ports.Read(0xe9, 1));
        Assert.Equal(0u, machine.Ports.Read(0xe4, 4)); // the flush-page port reads 0
        Assert.Equal(0u, machine.Ports.Read(0x2000, 1)); // as does the IRQ-line port
        machine.Mmio.Write(0xff00_0010, 4, 0xCAFE);
        Assert.Equal(0xCAFEul, machine.Mmio.Read(0xff00_0010, 4));
    }

    [Fact]
    public void AnImageThatIsNoKernelIsABootImageError()
    {
        var hypervisor = new FakeHypervisor();
        var config = new MachineConfig { MemoryBytes = 16 << 20, Kernel = new byte[4096] };
        Assert.Throws<BootImageException>(() => new MachineBuilder(hypervisor, config).Build());
        Assert.True(hypervisor.Machines[0].Disposed);
    }

    [Theory]
    [InlineData(16UL << 20)]
    [InlineData(3UL << 30)]
    [InlineData(5UL << 30)]
    public void RamLayoutMatchesTheBootMemoryMap(ulong bytes)
    {
        var map = MemoryMap.ForPc(bytes);
        foreach (var entry in map.Entries.Where(e => e.Type == MemoryType.Ram))
            Assert.Contains(GuestRamLayout.ForPc(bytes), bank => entry.Start >= bank.GuestAddress && entry.End <= bank.GuestAddress + bank.Size);
        ulong banked = GuestRamLayout.ForPc(bytes).Aggregate(0UL, (sum, b) => sum + b.Size);
        Assert.Equal(bytes, banked);
    }
}

public class MpTableInMachineTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public void BootingAKernelWritesTheMpTableForEveryVcpu(int cpus)
    {
        byte[] bootSector = new byte[512];
        bootSector[0] = 0xF4; // hlt
        bootSector[510] = 0x55;
        bootSector[511] = 0xAA;
        var hypervisor = new FakeHypervisor((_, _) => Script.Of(VcpuExit.IoOut(0xf4, 1, 0)));
        using var machine = new MachineBuilder(hypervisor, new MachineConfig
        {
            MemoryBytes = 16 << 20, VcpuCount = cpus, Kernel = bootSector,
        }).Build();

        var memory = machine.Memory;
        Assert.Equal("_MP_"u8.ToArray(), Read(memory, MpTable.DefaultAddress, 4));
        ulong config = memory.ReadUInt32(MpTable.DefaultAddress + 4);
        Assert.Equal("PCMP"u8.ToArray(), Read(memory, config, 4));
        int processors = 0;
        ulong entry = config + 44;
        for (int i = 0; i < memory.ReadUInt16(config + 34); i++)
        {
            byte type = memory.ReadByte(entry);
            if (type == 0) processors++;
            entry += type == 0 ? 20UL : 8UL;
        }
        Assert.Equal(cpus, processors);
    }

    private static byte[] Read(GuestMemory memory, ulong address, int length)
    {
        var bytes = new byte[length];
        memory.Read(address, bytes);
        return bytes;
    }
}
