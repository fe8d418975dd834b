using System.Buffers.Binary;

namespace Vessel.Boot.Linux;

/// <summary>The setup header of a Linux bzImage (Documentation/arch/x86/boot.rst), validated for a
/// 64-bit direct boot. Every field is treated as hostile.</summary>
public sealed class LinuxSetupHeader
{
    public const int HeaderStart = 0x1F1;
    /// <summary>Protocol 2.12 added xloadflags and the 64-bit entry point this loader uses.</summary>
    public const ushort MinimumVersion = 0x20C;
    public const ushort XlfKernel64 = 1, XlfCanBeLoadedAbove4G = 2;
    public const byte LoadedHigh = 1;

    public int SetupSectors { get; private init; }
    public ushort Version { get; private init; }
    public byte LoadFlags { get; private init; }
    public uint InitrdAddressMax { get; private init; }
    public uint KernelAlignment { get; private init; }
    public bool Relocatable { get; private init; }
    public ushort XLoadFlags { get; private init; }
    public uint CommandLineSize { get; private init; }
    public ulong PreferredAddress { get; private init; }
    public uint InitSize { get; private init; }
    /// <summary>End offset of the setup header in the image (0x202 + the jump's displacement).</summary>
    public int HeaderEnd { get; private init; }

    /// <summary>File offset where the protected-mode kernel starts.</summary>
    public int KernelOffset => (SetupSectors + 1) * 512;

    public static bool LooksLikeBzImage(ReadOnlySpan<byte> image) =>
        image.Length >= 0x206 && image[0x202] == (byte)'H' && image[0x203] == (byte)'d' && image[0x204] == (byte)'r' && image[0x205] == (byte)'S';

    public static LinuxSetupHeader Parse(ReadOnlySpan<byte> image)
    {
        if (image.Length < 0x264 || !LooksLikeBzImage(image))
            throw new BootImageException("not a Linux bzImage: the setup header is missing or truncated");
        if (BinaryPrimitives.ReadUInt16LittleEndian(image[0x1FE..]) != 0xAA55)
            throw new BootImageException("Linux bzImage has a bad boot flag (expected 0xAA55 at 0x1FE)");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(image[0x206..]);
        if (version < MinimumVersion)
            throw new BootImageException($"Linux boot protocol {version >> 8}.{version & 0xFF} is too old: 64-bit entry needs 2.12 or later");
        ushort xloadflags = BinaryPrimitives.ReadUInt16LittleEndian(image[0x236..]);
        if ((xloadflags & XlfKernel64) == 0)
            throw new BootImageException("this bzImage has no 64-bit entry point (XLF_KERNEL_64 is not set)");
        byte loadflags = image[0x211];
        if ((loadflags & LoadedHigh) == 0)
            throw new BootImageException("this bzImage is a zImage loaded low, which is not supported");
        int setupSectors = image[0x1F1] == 0 ? 4 : image[0x1F1];
        int headerEnd = 0x202 + image[0x201];
        uint alignment = BinaryPrimitives.ReadUInt32LittleEndian(image[0x230..]);
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
            throw new BootImageException($"Linux bzImage has an invalid kernel_alignment 0x{alignment:x}");
        var header = new LinuxSetupHeader
        {
            SetupSectors = setupSectors,
            Version = version,
            LoadFlags = loadflags,
            InitrdAddressMax = BinaryPrimitives.ReadUInt32LittleEndian(image[0x22C..]),
            KernelAlignment = alignment,
            Relocatable = image[0x234] != 0,
            XLoadFlags = xloadflags,
            CommandLineSize = BinaryPrimitives.ReadUInt32LittleEndian(image[0x238..]),
            PreferredAddress = BinaryPrimitives.ReadUInt64LittleEndian(image[0x258..]),
            InitSize = BinaryPrimitives.ReadUInt32LittleEndian(image[0x260..]),
            HeaderEnd = Math.Min(headerEnd, 0x290),
        };
        if (header.KernelOffset >= image.Length)
            throw new BootImageException($"Linux bzImage is truncated: {setupSectors} setup sectors but only {image.Length} bytes");
        if (header.InitSize < (uint)(image.Length - header.KernelOffset))
            throw new BootImageException("Linux bzImage's init_size is smaller than its kernel");
        return header;
    }
}
