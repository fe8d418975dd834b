using System.Buffers.Binary;
using System.Text;

namespace Vessel.Testing;

/// <summary>Small kernel images and their pieces, for the loader tests and the fuzzers' seeds.</summary>
public static class TestImages
{
    public const uint MultibootMagic = 0x1BADB002;
    public const uint AddressFieldsFlag = 1 << 16;

    /// <summary>A multiboot header: magic, flags, checksum, then the five address fields if given.</summary>
    public static byte[] MultibootHeader(uint flags = 0, uint? checksum = null,
        uint headerAddr = 0, uint loadAddr = 0, uint loadEndAddr = 0, uint bssEndAddr = 0, uint entryAddr = 0)
    {
        bool addresses = (flags & AddressFieldsFlag) != 0;
        var h = new byte[addresses ? 32 : 12];
        BinaryPrimitives.WriteUInt32LittleEndian(h, MultibootMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(8), checksum ?? unchecked(0u - MultibootMagic - flags));
        if (addresses)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(12), headerAddr);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(16), loadAddr);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(20), loadEndAddr);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(24), bssEndAddr);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(28), entryAddr);
        }
        return h;
    }

    /// <summary>Recognisable code bytes (a pattern, then HLT) of the given length.</summary>
    public static byte[] Code(int length, byte seed = 1)
    {
        var code = new byte[length];
        for (int i = 0; i < length; i++) code[i] = (byte)(seed + i * 7);
        code[^1] = 0xF4;
        return code;
    }

    /// <summary>A multiboot ELF32 kernel like kvm-unit-tests' .flat: one segment at <paramref name="address"/>
    /// that starts with the multiboot header, plus <paramref name="bss"/> zeroed bytes.</summary>
    public static byte[] MultibootElf(uint address = 0x100000, int bss = 0x2000, uint flags = 0)
    {
        byte[] text = [.. MultibootHeader(flags), .. Code(0x200)];
        return new ElfBuilder(is64: false) { Entry = address + 12 }
            .Add(address, text, (ulong)(text.Length + bss)).Build();
    }

    /// <summary>A raw multiboot kernel loaded through the a.out kludge: header at file offset 0 = load_addr.</summary>
    public static byte[] AoutKludge(uint loadAddr = 0x100000, int codeLength = 0x300, uint bss = 0x1000)
    {
        uint fileLength = 32 + (uint)codeLength;
        var header = MultibootHeader(AddressFieldsFlag, headerAddr: loadAddr, loadAddr: loadAddr, loadEndAddr: 0,
            bssEndAddr: loadAddr + fileLength + bss, entryAddr: loadAddr + 32);
        return [.. header, .. Code(codeLength, seed: 3)];
    }

    public static byte[] BootSector(int length = 512)
    {
        var image = Code(length, seed: 5);
        image[510] = 0x55;
        image[511] = 0xAA;
        return image;
    }

    /// <summary>An ELF note: namesz, descsz, type, then the NUL-terminated name and the descriptor, each padded to
    /// 4 bytes.</summary>
    public static byte[] ElfNote(string name, uint type, byte[] desc)
    {
        byte[] nameBytes = [.. Encoding.ASCII.GetBytes(name), 0];
        int nameSize = (nameBytes.Length + 3) & ~3, descSize = (desc.Length + 3) & ~3;
        var note = new byte[12 + nameSize + descSize];
        BinaryPrimitives.WriteUInt32LittleEndian(note, (uint)nameBytes.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(note.AsSpan(4), (uint)desc.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(note.AsSpan(8), type);
        nameBytes.CopyTo(note, 12);
        desc.CopyTo(note, 12 + nameSize);
        return note;
    }
}
