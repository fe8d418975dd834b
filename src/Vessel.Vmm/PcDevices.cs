using Microsoft.Extensions.Logging;
using Vessel.Devices;
using Vessel.Hypervisor;

namespace Vessel.Vmm;

/// <summary>The standard devices of the PC machine, on the ports, addresses and IRQs <see cref="PcLayout"/> names.
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
        var com1 = new Uart16550(context.IrqLine(PcLayout.Com1Irq), sink.Transmit, () => input!.SignalSpace());
        ports.Register(PcLayout.Com1Port, Uart16550.PortCount, com1);
        input = SerialInput.For(com1);
        context.SerialInput = input; // the UART locks itself against concurrent vCPU access

        var i8042 = new I8042(context.SystemControl, context.IrqLine(PcLayout.I8042KeyboardIrq),
            context.IrqLine(PcLayout.I8042AuxIrq));
        ports.Register(PcLayout.I8042DataPort, I8042.PortLength, i8042.DataPort);
        ports.Register(PcLayout.I8042CommandPort, I8042.PortLength, i8042.CommandPort);
        context.Keyboard = i8042;

        ulong ram = GuestRamLayout.RoundToPages(context.Config.MemoryBytes);
        ulong below4G = Math.Min(ram, PcLayout.MmioHoleStart);
        ports.Register(PcLayout.CmosPort, CmosRtc.PortCount, new CmosRtc(below4G, ram - below4G));
        ports.Register(PcLayout.DebugExitPort, DebugExit.PortCount, new DebugExit(context.SystemControl));
        ports.Register(PcLayout.PostCodePort, PostCodePort.PortCount, new PostCodePort());
        ports.Register(PcLayout.FwCfgPort, FwCfg.PortCount, new FwCfg(context.Config.VcpuCount, ram));

        // No flush-page hook yet: the emu backend drops stale translations through GuestMemory.Written only.
        var vm = context.VirtualMachine;
        var testDev = new PcTestDev((gsi, level) => vm.SetIrqLine((uint)gsi, level));
        ports.Register(PcLayout.PcTestDevIoPort, PcTestDev.IoPortLength, testDev.IoPort);
        ports.Register(PcLayout.PcTestDevFlushPagePort, PcTestDev.FlushPageLength, testDev.FlushPagePort);
        ports.Register(PcLayout.PcTestDevIoPortBytePort, PcTestDev.IoPortByteLength, testDev.IoPortByte);
        ports.Register(PcLayout.PcTestDevIrqLinePort, PcTestDev.IrqLineCount, testDev.IrqLinePort);
        context.Mmio.Register(PcLayout.PcTestDevIoMemBase, PcTestDev.IoMemLength, testDev.IoMem);
    }
}
