using System.Buffers.Binary;
using Vessel.Hypervisor;

namespace Vessel.Boot.Setup;

/// <summary>The GDT the loaders write into guest memory, so that a kernel which reloads a segment register
/// finds the descriptor its hidden part came from. Layout: null, flat 32-bit code, flat data, 64-bit code,
/// and a busy TSS (16 bytes, valid for both 32-bit and 64-bit TR).</summary>
public static class BootGdt
{
    public const ushort Code32Selector = 0x08, DataSelector = 0x10, Code64Selector = 0x18, TssSelector = 0x20;
    /// <summary>Size of the zeroed TSS TR points at (the architectural minimum, 104 bytes).</summary>
    public const int TssSize = 0x68;

    private const int GdtBytes = 0x30;
    private const byte AccessCode = 0x9B, AccessData = 0x93, AccessBusyTss = 0x8B; // present, DPL 0, accessed/busy
    private const byte FlagsGranularity4K = 0x8, FlagsBig = 0x4, FlagsLong = 0x2;

    /// <summary>Writes the GDT and its TSS into low memory; returns GDTR and the TR the vCPU must hold.</summary>
    internal static (DescriptorTable Gdtr, Segment Tr) Write(GuestMemory memory, LowMemoryAllocator lowMemory)
    {
        ulong gdt = lowMemory.Allocate(GdtBytes, 16, "GDT");
        ulong tss = lowMemory.Allocate(TssSize, 16, "TSS");
        memory.WriteUInt16(tss + 0x66, TssSize); // I/O bitmap base past the limit: no bitmap

        Span<byte> table = stackalloc byte[GdtBytes];
        table.Clear();
        Put(table, Code32Selector, Descriptor(0, 0xFFFFF, AccessCode, FlagsGranularity4K | FlagsBig));
        Put(table, DataSelector, Descriptor(0, 0xFFFFF, AccessData, FlagsGranularity4K | FlagsBig));
        Put(table, Code64Selector, Descriptor(0, 0xFFFFF, AccessCode, FlagsGranularity4K | FlagsLong));
        Put(table, TssSelector, Descriptor((uint)tss, TssSize - 1, AccessBusyTss, 0)); // upper half (base 63:32) stays 0
        GuestWrites.Write(memory, gdt, table);

        var tr = new Segment
        {
            Base = tss, Limit = TssSize - 1, Selector = TssSelector, Type = 0xB, Present = true, CodeOrData = false,
        };
        return (new DescriptorTable { Base = gdt, Limit = GdtBytes - 1 }, tr);
    }

    /// <summary>An 8-byte segment descriptor.</summary>
    public static ulong Descriptor(uint baseAddress, uint limit, byte access, byte flags) =>
        (limit & 0xFFFFUL) | (ulong)(baseAddress & 0xFFFFFF) << 16 | (ulong)access << 40 |
        (ulong)((limit >> 16) & 0xF) << 48 | (ulong)(flags & 0xF) << 52 | (ulong)(baseAddress >> 24) << 56;

    private static void Put(Span<byte> table, ushort selector, ulong descriptor) =>
        BinaryPrimitives.WriteUInt64LittleEndian(table[selector..], descriptor);
}
