using System.Runtime.CompilerServices;
using Vessel.Devices.Bus;
using Vessel.Devices.Platform;
using Vessel.Hypervisor;

namespace Vessel.Devices.Tests.Platform;

/// <summary>The PIC and PIT reached by absolute port, as a guest reaches them: each device's port windows are
/// registered on a real <see cref="PortIoBus"/> at the places <see cref="PcLayout"/> names (as the emu platform
/// registers them), and every access goes through that bus one byte wide.</summary>
internal static class PlatformPorts
{
    public const ushort ElcrMaster = PcLayout.PicElcrPort, ElcrSlave = PcLayout.PicElcrPort + 1;
    public const ushort PitChannel0 = PcLayout.PitPort, PitCommand = PcLayout.PitPort + 3, PitPortB = PcLayout.SystemControlPortB;

    private static readonly ConditionalWeakTable<object, PortIoBus> Buses = new();

    public static byte Read(this DualPic pic, ushort port) => (byte)BusOf(pic).Read(port, 1);
    public static void Write(this DualPic pic, ushort port, byte value) => BusOf(pic).Write(port, 1, value);
    public static byte Read(this Pit8254 pit, ushort port) => (byte)BusOf(pit).Read(port, 1);
    public static void Write(this Pit8254 pit, ushort port, byte value) => BusOf(pit).Write(port, 1, value);

    private static PortIoBus BusOf(DualPic pic) => Buses.GetValue(pic, static p =>
    {
        var pic = (DualPic)p;
        var bus = new PortIoBus();
        bus.Register(PcLayout.PicMasterPort, DualPic.WindowLength, pic.MasterPorts);
        bus.Register(PcLayout.PicSlavePort, DualPic.WindowLength, pic.SlavePorts);
        bus.Register(PcLayout.PicElcrPort, DualPic.WindowLength, pic.ElcrPorts);
        return bus;
    });

    private static PortIoBus BusOf(Pit8254 pit) => Buses.GetValue(pit, static p =>
    {
        var pit = (Pit8254)p;
        var bus = new PortIoBus();
        bus.Register(PcLayout.PitPort, Pit8254.CounterPortsLength, pit.CounterPorts);
        bus.Register(PcLayout.SystemControlPortB, Pit8254.PortBLength, pit.PortBPort);
        return bus;
    });
}
