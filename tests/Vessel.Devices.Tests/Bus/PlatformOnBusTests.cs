using Vessel.Devices.Bus;
using Vessel.Devices.Platform;
using Vessel.Hypervisor;

namespace Vessel.Devices.Tests.Bus;

/// <summary>The platform devices as the emu backend places them: on the shared buses, seeing offsets only.</summary>
public class PlatformOnBusTests
{
    [Fact]
    public void IoApicOnTheMmioBusAnswersAt32BitAndRepeatsEvery256Bytes()
    {
        var bus = new MmioBus();
        bus.Register(PcLayout.IoApicBase, IoApic.MmioLength, new IoApic(_ => { }, id: 3));

        Assert.True(bus.TryWrite(PcLayout.IoApicBase, 4, 0x01)); // IOREGSEL = version
        Assert.True(bus.TryRead(PcLayout.IoApicBase + 0x10, 4, out ulong version));
        Assert.Equal(0x0017_0011UL, version);
        Assert.True(bus.TryWrite(PcLayout.IoApicBase + 0x300, 4, 0x00)); // a repeat of IOREGSEL: the id register
        Assert.True(bus.TryRead(PcLayout.IoApicBase + 0x10, 4, out ulong id));
        Assert.Equal(3UL << 24, id);
        Assert.True(bus.TryRead(PcLayout.IoApicBase + 0x10, 2, out ulong narrow));
        Assert.Equal(0UL, narrow); // only dword accesses reach the registers
    }

    [Fact]
    public void TryReadAndTryWriteReportWhatNoDeviceClaims()
    {
        var ports = new PortIoBus();
        var mmio = new MmioBus();
        var pit = new Pit8254(() => 0, _ => { });
        ports.Register(PcLayout.PitPort, Pit8254.CounterPortsLength, pit.CounterPorts);

        Assert.False(ports.TryRead(PcLayout.Com1Port, 1, out _));
        Assert.False(ports.TryWrite(PcLayout.PitPort + Pit8254.CounterPortsLength, 1, 0));
        Assert.False(mmio.TryRead(PcLayout.IoApicBase, 4, out _));
        Assert.False(mmio.TryWrite(PcLayout.IoApicBase, 4, 0));
        Assert.True(ports.TryWrite(PcLayout.PitPort + 3, 1, 0x34)); // channel 0, lobyte/hibyte, mode 2
    }

    [Fact]
    public void PitReportsReprogrammingButNotPortBWrites()
    {
        var pit = new Pit8254(() => 0, _ => { });
        int reprogrammed = 0;
        pit.Reprogrammed += () => reprogrammed++;
        pit.CounterPorts.Write(3, 1, 0x34);
        pit.CounterPorts.Write(0, 1, 0xE8);
        pit.PortBPort.Write(0, 1, 0x01);
        Assert.Equal(2, reprogrammed);
    }

    [Fact]
    public void PlatformWindowsOverlappingOtherDevicesAreRefused()
    {
        var ports = new PortIoBus();
        var pic = new DualPic();
        ports.Register(PcLayout.PicMasterPort, DualPic.WindowLength, pic.MasterPorts);
        var ex = Assert.Throws<BusRegistrationException>(() => ports.Register(PcLayout.PicMasterPort + 1, 1, pic.SlavePorts));
        Assert.Contains("overlaps", ex.Message);
    }
}
