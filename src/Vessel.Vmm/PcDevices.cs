using Microsoft.Extensions.Logging;
using Vessel.Devices;

namespace Vessel.Vmm;

/// <summary>The standard devices of the PC machine in DESIGN.md, on their ports, addresses and IRQs.
/// (PIT, PIC, IOAPIC and LAPIC belong to the backend: in-kernel under KVM, software under emu.)</summary>
internal static class PcDevices
{
    public static void Install(PcDeviceContext context)
    {
        var ports = context.Ports;
        var control = context.SystemControl as MachineSystemControl;
        var sink = new SerialOutputSink(context.Config.SerialOutput, () => control?.StopRequested ?? false,
            context.LoggerFactory.CreateLogger("Vessel.Vmm.Serial"));
        context.OwnedDevices.Add(sink); // disposed after the vCPUs are joined: writes out what is buffered
        SerialInput? input = null;
        var com1 = new Uart16550(context.IrqLine(LegacyPorts.Com1Irq), sink.Transmit, () => input!.SignalSpace());
        ports.Register(LegacyPorts.Com1Base, LegacyPorts.Com1Length, com1);
        input = SerialInput.For(com1);
        context.SerialInput = input; // the UART locks itself against concurrent vCPU access

        var i8042 = new I8042(context.SystemControl, context.IrqLine(LegacyPorts.I8042KeyboardIrq),
            context.IrqLine(LegacyPorts.I8042AuxIrq));
        ports.Register(LegacyPorts.I8042Data, LegacyPorts.I8042PortLength, i8042.DataPort);
        ports.Register(LegacyPorts.I8042Command, LegacyPorts.I8042PortLength, i8042.CommandPort);
        context.Keyboard = i8042;

        ulong ram = GuestRamLayout.RoundToPages(context.Config.MemoryBytes);
        ulong below4G = Math.Min(ram, GuestRamLayout.MmioHoleStart);
        ports.Register(LegacyPorts.RtcBase, LegacyPorts.RtcLength, new CmosRtc(below4G, ram - below4G));
        ports.Register(LegacyPorts.DebugExitBase, LegacyPorts.DebugExitLength, new DebugExit(context.SystemControl));
        ports.Register(LegacyPorts.PostCodeBase, LegacyPorts.PostCodeLength, new PostCodePort());
        ports.Register(LegacyPorts.FwCfgBase, LegacyPorts.FwCfgLength, new FwCfg(context.Config.VcpuCount, ram));

        // No flush-page hook yet: the emu backend drops stale translations through GuestMemory.Written only.
        var vm = context.VirtualMachine;
        var testDev = new PcTestDev((gsi, level) => vm.SetIrqLine((uint)gsi, level));
        ports.Register(PcTestDev.IoPortBase, PcTestDev.IoPortLength, testDev.IoPort);
        ports.Register(PcTestDev.FlushPageBase, PcTestDev.FlushPageLength, testDev.FlushPagePort);
        ports.Register(PcTestDev.IoPortByteBase, PcTestDev.IoPortByteLength, testDev.IoPortByte);
        ports.Register(PcTestDev.IrqLineBase, PcTestDev.IrqLineCount, testDev.IrqLinePort);
        context.Mmio.Register(PcTestDev.IoMemBase, PcTestDev.IoMemLength, testDev.IoMem);
    }
}
