using System.Buffers.Binary;
using System.Text;

namespace Vessel.Fuzz;

/// <summary>Small valid kernel images of every format the loaders take: where mutation starts.</summary>
public static class SeedImages
{
    /// <summary>A bzImage (boot protocol 2.15, 64-bit entry): 4 setup sectors and a small protected-mode kernel.</summary>
    public static byte[] BzImage(ulong preferred = 0x100000, uint initSize = 0x100000, uint alignment = 0x200000)
    {
        var image = new byte[5 * 512 + 0x1000];
        image[0x1F1] = 4;
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(0x1FE), 0xAA55);
        image[0x200] = 0xEB;
        image[0x201] = 0x6A;
        Encoding.ASCII.GetBytes("HdrS", image.AsSpan(0x202));
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(0x206), 0x20F);
        image[0x211] = 1;                                                        // LOADED_HIGH
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(0x22C), 0x7FFFFFFF);  // initrd_addr_max
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(0x230), alignment);
        image[0x234] = 1;                                                        // relocatable
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(0x236), 0x7F);        // xloadflags
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(0x238), 0x7FF);       // cmdline_size
        BinaryPrimitives.WriteUInt64LittleEndian(image.AsSpan(0x258), preferred);
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(0x260), initSize);
        Code(0x1000).CopyTo(image, 5 * 512);
        return image;
    }

    /// <summary>A vmlinux-like ELF64 with Xen notes, the last one XEN_ELFNOTE_PHYS32_ENTRY.</summary>
    public static byte[] PvhKernel(int entryNoteBytes = 8)
    {
        const ulong kernelAt = 0x1000000, entry = 0x1000100;
        byte[] entryDesc = entryNoteBytes == 4 ? BitConverter.GetBytes((uint)entry) : BitConverter.GetBytes(entry);
        byte[] notes = [.. Note("Xen", 6, "linux\0"u8.ToArray()), .. Note("GNU", 3, new byte[4]), .. Note("Xen", 18, entryDesc)];
        return new ElfBuilder(is64: true) { Entry = 0xFFFFFFFF81000000 }
            .Add(kernelAt, Code(0x800), memorySize: 0x2000, virtualAddress: 0xFFFFFFFF81000000)
            .Add(0, notes, type: 4)
            .Build();
    }

    public static byte[] Elf(bool is64) =>
        new ElfBuilder(is64) { Entry = 0x100000 }.Add(0x100000, Code(0x200)).Add(0x200000, [1, 2, 3], memorySize: 0x1000).Build();

    /// <summary>A multiboot ELF32 like kvm-unit-tests' .flat: the header starts its one segment.</summary>
    public static byte[] MultibootElf() => TestImages.MultibootElf();

    /// <summary>A flat multiboot kernel loaded through the header's address fields.</summary>
    public static byte[] AoutKludge() => TestImages.AoutKludge();

    public static byte[] BootSector(int length) => TestImages.BootSector(length);

    private static byte[] Note(string name, uint type, byte[] desc) => TestImages.ElfNote(name, type, desc);

    private static byte[] Code(int length) => TestImages.Code(length);
}
