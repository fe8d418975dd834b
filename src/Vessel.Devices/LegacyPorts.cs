namespace Vessel.Devices;

/// <summary>Where the legacy PC devices live: base ports, range lengths and ISA IRQs, so the VMM registers
/// every device from one place.</summary>
public static class LegacyPorts
{
    public const ushort Com1Base = 0x3F8;
    public const ushort Com1Length = 8;
    public const int Com1Irq = 4;

    public const ushort Com2Base = 0x2F8;
    public const ushort Com2Length = 8;
    public const int Com2Irq = 3;

    /// <summary>i8042 data port (<see cref="I8042.DataPort"/>), one byte.</summary>
    public const ushort I8042Data = 0x60;
    /// <summary>i8042 status/command port (<see cref="I8042.CommandPort"/>), one byte.</summary>
    public const ushort I8042Command = 0x64;
    public const ushort I8042PortLength = 1;
    public const int I8042KeyboardIrq = 1;
    public const int I8042AuxIrq = 12;

    /// <summary>CMOS RTC: index at 0x70, data at 0x71.</summary>
    public const ushort RtcBase = 0x70;
    public const ushort RtcLength = 2;
    public const int RtcIrq = 8;

    /// <summary>isa-debug-exit; four ports wide as kvm-unit-tests configures it (iosize=4), so outl works.</summary>
    public const ushort DebugExitBase = 0xF4;
    public const ushort DebugExitLength = 4;

    public const ushort PostCodeBase = 0x80;
    public const ushort PostCodeLength = 1;

    /// <summary>fw_cfg legacy I/O: selector at 0x510 (16-bit), data at 0x511 (8-bit).</summary>
    public const ushort FwCfgBase = 0x510;
    public const ushort FwCfgLength = 2;

    /// <summary>pc-testdev pieces; see <see cref="PcTestDev"/>.</summary>
    public const ushort PcTestDevIoPortBase = PcTestDev.IoPortBase;
    public const ushort PcTestDevFlushPageBase = PcTestDev.FlushPageBase;
    public const ushort PcTestDevIoPortByteBase = PcTestDev.IoPortByteBase;
    public const ushort PcTestDevIrqLineBase = PcTestDev.IrqLineBase;
    public const ulong PcTestDevIoMemBase = PcTestDev.IoMemBase;
}
