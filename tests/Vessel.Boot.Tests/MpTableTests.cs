using System.Buffers.Binary;
using System.Text;
using Vessel.Boot;
using Vessel.Hypervisor;

namespace Vessel.Boot.Tests;

public class MpTableTests
{
    private static byte Sum(ReadOnlySpan<byte> b)
    {
        byte s = 0;
        foreach (byte x in b) s += x;
        return s;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public void FloatingPointerAndConfigurationTableAreValid(int cpus)
    {
        using var region = new GuestMemoryRegion(1 << 20);
        var memory = new GuestMemory();
        memory.Map(0, 0, region);
        MpTable.Write(memory, cpus);

        var fp = memory.GetSpan(MpTable.DefaultAddress, 16);
        Assert.Equal("_MP_", Encoding.ASCII.GetString(fp[..4]));
        Assert.Equal(0, Sum(fp));
        uint configAddress = BinaryPrimitives.ReadUInt32LittleEndian(fp[4..]);
        Assert.Equal(MpTable.DefaultAddress + 16, configAddress);

        var header = memory.GetSpan(configAddress, 44);
        Assert.Equal("PCMP", Encoding.ASCII.GetString(header[..4]));
        int length = BinaryPrimitives.ReadUInt16LittleEndian(header[4..]);
        Assert.Equal(0, Sum(memory.GetSpan(configAddress, length)));
        Assert.Equal(0xFEE00000u, BinaryPrimitives.ReadUInt32LittleEndian(header[36..]));

        // Walk the entries: count processors (BSP first), find the IOAPIC and the IRQ0 → pin 2 override.
        int count = BinaryPrimitives.ReadUInt16LittleEndian(header[34..]);
        var table = memory.GetSpan(configAddress, length);
        int offset = 44, processors = 0, isaBus = -1, pciBus = -1;
        bool sawIoApic = false, irq0ToPin2 = false, slot1PinAToGsi17 = false;
        for (int i = 0; i < count; i++)
        {
            byte type = table[offset];
            switch (type)
            {
                case 0:
                    Assert.Equal(processors, table[offset + 1]);
                    Assert.Equal(processors == 0, (table[offset + 3] & 2) != 0);
                    processors++;
                    offset += 20;
                    break;
                case 2:
                    sawIoApic = BinaryPrimitives.ReadUInt32LittleEndian(table[(offset + 4)..]) == 0xFEC00000;
                    offset += 8;
                    break;
                case 3:
                    if (table[offset + 1] == 0 && table[offset + 4] == isaBus && table[offset + 5] == 0) irq0ToPin2 = table[offset + 7] == 2;
                    if (table[offset + 4] == pciBus && table[offset + 5] == (1 << 2)) slot1PinAToGsi17 = table[offset + 7] == 17;
                    offset += 8;
                    break;
                case 1:
                    string busType = Encoding.ASCII.GetString(table.Slice(offset + 2, 6));
                    if (busType == "ISA   ") isaBus = table[offset + 1];
                    if (busType == "PCI   ") pciBus = table[offset + 1];
                    offset += 8;
                    break;
                default:
                    offset += 8;
                    break;
            }
        }
        Assert.Equal(length, offset);
        Assert.Equal(cpus, processors);
        Assert.True(sawIoApic);
        Assert.True(irq0ToPin2);
        // Linux looks PCI INTx up by the PCI bus number (0) as the MP source bus ID.
        Assert.Equal(0, pciBus);
        Assert.True(slot1PinAToGsi17);
    }

    [Fact]
    public void PciSlotsRouteToTheUpperIoApicPins()
    {
        Assert.Equal(17, PciInterruptRouting.GsiFor(1, 0));
        Assert.Equal(16, PciInterruptRouting.GsiFor(7, 1));
        for (int d = 0; d < 32; d++)
            for (int p = 0; p < 4; p++)
                Assert.InRange(PciInterruptRouting.GsiFor(d, p), 16, 23);
    }
}
