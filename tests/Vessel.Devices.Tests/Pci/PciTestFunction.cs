using Vessel.Devices.Pci;

namespace Vessel.Devices.Tests.Pci;

/// <summary>A function with a 32-bit BAR 0 (4 KiB: MSI-X table at 0, PBA at 0x800) and a 64-bit BAR 2
/// (16 KiB of plain registers), recording what the bus tells it.</summary>
internal sealed class PciTestFunction : IPciFunction
{
    public PciTestFunction(int vectors = 4)
    {
        Config = new PciConfigSpace(0x1AF4, 0x1042, 0x01_80_00) { Pin = 1 };
        Config.AddMemoryBar(0, 0x1000);
        Config.AddMemoryBar(2, 0x4000, is64Bit: true);
        Msix = new MsixTable(Config, vectors, 0, 0, 0x800, (address, data) => Messages.Add((address, data)));
    }

    public PciConfigSpace Config { get; }
    public MsixTable Msix { get; }
    public List<(ulong Address, uint Data)> Messages { get; } = [];
    public List<(int Bar, ulong? Address)> Mapped { get; } = [];
    public byte[] Registers { get; } = new byte[0x4000];

    public ulong ReadBar(int bar, ulong offset, int size) => bar switch
    {
        0 => Msix.Read(offset, size),
        _ => Registers[offset] | (ulong)Registers[offset + 1] << 8,
    };

    public void WriteBar(int bar, ulong offset, int size, ulong value)
    {
        if (bar == 0) Msix.Write(offset, size, value);
        else Registers[offset] = (byte)value;
    }

    public void ConfigWritten(int offset, int size)
    {
        if (offset <= Msix.CapabilityOffset + 3 && Msix.CapabilityOffset + 2 < offset + size) Msix.ControlWritten();
    }

    public void BarMapped(int bar, ulong? address) => Mapped.Add((bar, address));
}

/// <summary>Drives configuration mechanism #1 as a driver does.</summary>
internal static class ConfigAccess
{
    public static uint Read(PciBus bus, int slot, int offset, int size)
    {
        bus.ConfigPorts.Write(0, 4, 0x8000_0000u | (uint)slot << 11 | (uint)(offset & 0xFC));
        return bus.ConfigPorts.Read((ushort)(4 + (offset & 3)), size);
    }

    public static void Write(PciBus bus, int slot, int offset, int size, uint value)
    {
        bus.ConfigPorts.Write(0, 4, 0x8000_0000u | (uint)slot << 11 | (uint)(offset & 0xFC));
        bus.ConfigPorts.Write((ushort)(4 + (offset & 3)), size, value);
    }
}
