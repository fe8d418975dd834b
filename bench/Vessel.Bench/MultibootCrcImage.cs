using System.Buffers.Binary;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Bench;

/// <summary>A multiboot v1 image (a.out kludge, loaded at 1 MiB) that enters long mode itself, runs the
/// CRC workload in 64-bit code, prints the result on COM1 and ends through isa-debug-exit (status 1).
/// QEMU (`-kernel`) and `vessel run --kernel` both boot it unchanged. <see cref="Build(Action{Assembler})"/> puts
/// another 64-bit workload (result in EAX) in the same frame.</summary>
internal static class MultibootCrcImage
{
    private const uint Base = 0x100000;
    private const uint Entry32 = Base + 0x40;
    private const uint GdtAddress = Base + 0x400;
    private const uint Entry64 = Base + 0x800;
    private const uint PageTables = 0x200000;

    public static byte[] Build(int rounds) => Build(a => CrcGuest.EmitWorkload(a, rounds, is64: true));

    public static byte[] Build(Action<Assembler> workload)
    {
        var image = new byte[0x1000];
        WriteHeader(image);
        Place(image, Entry32, Assemble32());
        WriteGdt(image);
        Place(image, Entry64, Assemble64(workload));
        return image;
    }

    private static void WriteHeader(byte[] image)
    {
        const uint magic = 0x1BADB002, flags = 1u << 16;
        Span<byte> h = image.AsSpan(0, 32);
        BinaryPrimitives.WriteUInt32LittleEndian(h[0..], magic);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], unchecked(0u - magic - flags));
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], Base);          // header_addr
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], Base);          // load_addr
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], 0);             // load_end_addr: whole file
        BinaryPrimitives.WriteUInt32LittleEndian(h[24..], 0);             // bss_end_addr: none
        BinaryPrimitives.WriteUInt32LittleEndian(h[28..], Entry32);       // entry_addr
    }

    private static void WriteGdt(byte[] image)
    {
        Span<byte> g = image.AsSpan((int)(GdtAddress - Base), 32);
        BinaryPrimitives.WriteUInt64LittleEndian(g[8..], 0x00AF_9A00_0000_FFFF);  // 0x08: 64-bit code
        BinaryPrimitives.WriteUInt64LittleEndian(g[16..], 0x00CF_9200_0000_FFFF); // 0x10: data
        BinaryPrimitives.WriteUInt16LittleEndian(g[24..], 23);                    // GDTR at +24
        BinaryPrimitives.WriteUInt32LittleEndian(g[26..], GdtAddress);
    }

    private static void Place(byte[] image, uint address, byte[] code) =>
        code.CopyTo(image, (int)(address - Base));

    private static byte[] Assemble(Assembler a, uint address) => GuestCode.Assemble(a, address);

    private static byte[] Assemble32()
    {
        var a = new Assembler(32);
        var fill = a.CreateLabel();
        a.cli();
        a.mov(edi, PageTables);
        a.xor(eax, eax);
        a.mov(ecx, 3 * 1024);
        a.rep.stosd();
        a.mov(__dword_ptr[PageTables], PageTables + 0x1003);
        a.mov(__dword_ptr[PageTables + 0x1000], PageTables + 0x2003);
        a.mov(edi, PageTables + 0x2000);
        a.mov(eax, 0x83);
        a.mov(ecx, 512);
        a.Label(ref fill);
        a.mov(__dword_ptr[edi], eax);
        a.add(eax, 0x200000);
        a.add(edi, 8);
        a.loop(fill);
        a.mov(eax, cr4);
        a.or(eax, 0x20);
        a.mov(cr4, eax);
        a.mov(eax, PageTables);
        a.mov(cr3, eax);
        a.mov(ecx, 0xC000_0080);
        a.rdmsr();
        a.or(eax, 0x100);
        a.wrmsr();
        a.mov(eax, cr0);
        a.or(eax, 0x8000_0001);
        a.mov(cr0, eax);
        a.lgdt(__[GdtAddress + 24]);
        a.jmp(0x08, Entry64);
        return Assemble(a, Entry32);
    }

    private static byte[] Assemble64(Action<Assembler> workload)
    {
        var a = new Assembler(64);
        var digit = a.CreateLabel();
        var halt = a.CreateLabel();
        a.mov(ax, 0x10);
        a.mov(ds, ax);
        a.mov(es, ax);
        a.mov(ss, ax);
        a.mov(esp, 0x90000);
        workload(a);
        // Print EAX as 8 hex digits and a newline on COM1.
        a.mov(ebx, eax);
        a.mov(ecx, 8);
        a.mov(dx, 0x3f8);
        a.Label(ref digit);
        a.rol(ebx, 4);
        a.mov(eax, ebx);
        a.and(eax, 0xF);
        a.add(eax, '0');
        var print = a.CreateLabel();
        a.cmp(eax, '9');
        a.jbe(print);
        a.add(eax, 'a' - '9' - 1);
        a.Label(ref print);
        a.@out(dx, al);
        a.dec(ecx);
        a.jnz(digit);
        a.mov(al, (byte)'\n');
        a.@out(dx, al);
        a.mov(dx, 0xf4);
        a.xor(eax, eax);
        a.@out(dx, eax);
        a.Label(ref halt);
        a.hlt();
        a.jmp(halt);
        return Assemble(a, Entry64);
    }
}
