using Vessel.Boot.Elf;
using Vessel.Boot.Multiboot;

namespace Vessel.Boot;

public enum KernelImageFormat
{
    Unknown,
    /// <summary>Multiboot v1 (ELF or a.out kludge); wins over every other format the file could also be.</summary>
    Multiboot,
    Elf32,
    Elf64,
    LinuxBzImage,
    /// <summary>A raw boot sector (0x55 0xAA at 510), run in real mode at 0000:7C00.</summary>
    BootSector,
}

/// <summary>Tells a kernel image's format from its bytes, never its name.</summary>
public static class KernelImageFormats
{
    public const int BzImageMagicOffset = 0x202;
    public const int BootSignatureOffset = 510;

    public static KernelImageFormat Detect(ReadOnlySpan<byte> image)
    {
        if (MultibootHeader.ContainsMagic(image)) return KernelImageFormat.Multiboot;
        if (ElfImage.HasElfMagic(image)) return ElfImage.IsElf64(image) ? KernelImageFormat.Elf64 : KernelImageFormat.Elf32;
        if (IsBzImage(image)) return KernelImageFormat.LinuxBzImage;
        if (IsBootSector(image)) return KernelImageFormat.BootSector;
        return KernelImageFormat.Unknown;
    }

    private static bool IsBzImage(ReadOnlySpan<byte> image) =>
        image.Length >= BzImageMagicOffset + 4 && image.Slice(BzImageMagicOffset, 4).SequenceEqual("HdrS"u8);

    private static bool IsBootSector(ReadOnlySpan<byte> image) =>
        image.Length >= BootSignatureOffset + 2 && image[BootSignatureOffset] == 0x55 && image[BootSignatureOffset + 1] == 0xAA;
}
