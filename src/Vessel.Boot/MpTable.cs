using System.Buffers.Binary;
using System.Text;
using Vessel.Hypervisor;

namespace Vessel.Boot;

/// <summary>The Intel MultiProcessor Specification 1.4 tables: a floating pointer and a configuration table
/// listing the processors, the ISA and PCI buses, the IOAPIC and how every legacy IRQ and PCI INTx line is
/// wired. With them Linux booted with <c>acpi=off</c> finds and starts every vCPU and routes interrupts.</summary>
public static class MpTable
{
    /// <summary>The last KiB of base memory, which Linux scans for the floating pointer and which the PC
    /// memory map keeps reserved (<see cref="PcLayout.MpTableAddress"/>).</summary>
    public const ulong DefaultAddress = PcLayout.MpTableAddress;
    private const uint LocalApicAddress = (uint)PcLayout.LocalApicBase;
    private const uint IoApicAddress = (uint)PcLayout.IoApicBase;
    /// <summary>Linux matches an MP interrupt entry's source bus ID against the PCI bus number, so the PCI bus
    /// must be ID 0 (bus 0); ISA takes the next ID.</summary>
    private const byte PciBusId = 0, IsaBusId = 1;
    private const byte ProcessorEntry = 0, BusEntry = 1, IoApicEntry = 2, IoInterruptEntry = 3, LocalInterruptEntry = 4;
    private const byte IntTypeInt = 0, IntTypeNmi = 1, IntTypeExtInt = 3;
    /// <summary>Polarity and trigger "conforms to the bus" (edge/high for ISA).</summary>
    private const ushort ConformingFlags = 0;
    /// <summary>PCI INTx: active low (polarity 3), level triggered (trigger 3 &lt;&lt; 2).</summary>
    private const ushort PciLevelLowFlags = 0x3 | (0x3 << 2);

    /// <summary>Bytes the tables need for <paramref name="cpuCount"/> processors.</summary>
    public static int Size(int cpuCount) => 16 + 44 + cpuCount * 20 + 2 * 8 + 8 + EntryCountInterrupts * 8;

    private const int PciDevices = 32;
    private const int EntryCountInterrupts = 16 /* ISA incl. ExtINT on pin 0 */ + (PciDevices - 1) * 4 + 2;

    /// <summary>Writes the floating pointer at <paramref name="address"/> followed by the configuration table.</summary>
    public static void Write(GuestMemory memory, int cpuCount, ulong address = DefaultAddress, uint cpuSignature = 0x600, uint cpuFeatures = 0x201)
    {
        if (cpuCount is < 1 or > 254) throw new ArgumentOutOfRangeException(nameof(cpuCount), "the MP table describes 1 to 254 processors");
        var table = new byte[Size(cpuCount)];
        ulong configAddress = address + 16;
        if (configAddress + (ulong)table.Length > uint.MaxValue) throw new ArgumentOutOfRangeException(nameof(address));

        Span<byte> fp = table.AsSpan(0, 16);
        Encoding.ASCII.GetBytes("_MP_", fp);
        BinaryPrimitives.WriteUInt32LittleEndian(fp[4..], (uint)configAddress);
        fp[8] = 1;     // length in 16-byte units
        fp[9] = 4;     // specification revision 1.4
        fp[11] = 0;    // feature byte 1: a configuration table is present
        fp[12] = 0;    // feature byte 2: virtual-wire mode, no IMCR
        fp[10] = Checksum(fp);

        Span<byte> config = table.AsSpan(16);
        int offset = 44;
        int entries = 0;
        byte ioApicId = (byte)cpuCount;

        for (int cpu = 0; cpu < cpuCount; cpu++)
        {
            Span<byte> e = config.Slice(offset, 20);
            e[0] = ProcessorEntry;
            e[1] = (byte)cpu;                         // local APIC id
            e[2] = 0x14;                              // local APIC version
            e[3] = (byte)(1 | (cpu == 0 ? 2 : 0));    // enabled, bootstrap processor
            BinaryPrimitives.WriteUInt32LittleEndian(e[4..], cpuSignature);
            BinaryPrimitives.WriteUInt32LittleEndian(e[8..], cpuFeatures);
            offset += 20;
            entries++;
        }
        offset = WriteBus(config, offset, PciBusId, "PCI   "); entries++;
        offset = WriteBus(config, offset, IsaBusId, "ISA   "); entries++;

        Span<byte> io = config.Slice(offset, 8);
        io[0] = IoApicEntry;
        io[1] = ioApicId;
        io[2] = 0x11;                                  // IOAPIC version
        io[3] = 1;                                     // enabled
        BinaryPrimitives.WriteUInt32LittleEndian(io[4..], IoApicAddress);
        offset += 8;
        entries++;

        // ISA IRQs: the 8259 cascade output as ExtINT on pin 0, IRQ0 (PIT) on pin 2, IRQ n on pin n.
        offset = WriteInterrupt(config, offset, IoInterruptEntry, IntTypeExtInt, ConformingFlags, IsaBusId, 0, ioApicId, 0); entries++;
        for (byte irq = 0; irq < 16; irq++)
        {
            if (irq == 2) continue;
            byte pin = irq == 0 ? (byte)2 : irq;
            offset = WriteInterrupt(config, offset, IoInterruptEntry, IntTypeInt, ConformingFlags, IsaBusId, irq, ioApicId, pin);
            entries++;
        }
        for (int device = 1; device < PciDevices; device++)
            for (int pin = 0; pin < 4; pin++)
            {
                offset = WriteInterrupt(config, offset, IoInterruptEntry, IntTypeInt, PciLevelLowFlags, PciBusId,
                    (byte)((device << 2) | pin), ioApicId, (byte)PciInterruptRouting.GsiFor(device, pin));
                entries++;
            }
        // Local interrupts of every processor: LINT0 ExtINT (virtual wire), LINT1 NMI.
        offset = WriteInterrupt(config, offset, LocalInterruptEntry, IntTypeExtInt, ConformingFlags, IsaBusId, 0, 0xFF, 0); entries++;
        offset = WriteInterrupt(config, offset, LocalInterruptEntry, IntTypeNmi, ConformingFlags, IsaBusId, 0, 0xFF, 1); entries++;

        Span<byte> header = config[..44];
        Encoding.ASCII.GetBytes("PCMP", header);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], (ushort)offset);
        header[6] = 4;
        Encoding.ASCII.GetBytes("VESSEL  ", header[8..16]);
        Encoding.ASCII.GetBytes("MICROVM     ", header[16..28]);
        BinaryPrimitives.WriteUInt16LittleEndian(header[34..], (ushort)entries);
        BinaryPrimitives.WriteUInt32LittleEndian(header[36..], LocalApicAddress);
        header[7] = Checksum(config[..offset]);

        memory.Write(address, table.AsSpan(0, 16 + offset));
    }

    private static int WriteBus(Span<byte> config, int offset, byte id, string type)
    {
        Span<byte> e = config.Slice(offset, 8);
        e[0] = BusEntry;
        e[1] = id;
        Encoding.ASCII.GetBytes(type, e[2..8]);
        return offset + 8;
    }

    private static int WriteInterrupt(Span<byte> config, int offset, byte entryType, byte interruptType, ushort flags,
        byte sourceBus, byte sourceIrq, byte destinationId, byte destinationPin)
    {
        Span<byte> e = config.Slice(offset, 8);
        e[0] = entryType;
        e[1] = interruptType;
        BinaryPrimitives.WriteUInt16LittleEndian(e[2..], flags);
        e[4] = sourceBus;
        e[5] = sourceIrq;
        e[6] = destinationId;
        e[7] = destinationPin;
        return offset + 8;
    }

    private static byte Checksum(ReadOnlySpan<byte> bytes)
    {
        byte sum = 0;
        foreach (byte b in bytes) sum += b;
        return (byte)(0 - sum);
    }
}
