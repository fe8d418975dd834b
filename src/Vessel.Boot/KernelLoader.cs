using Vessel.Boot.Elf;
using Vessel.Boot.Multiboot;
using Vessel.Hypervisor;

namespace Vessel.Boot;

/// <summary>Loads a kernel image of any supported format into guest memory and returns the bootstrap vCPU's state.</summary>
public static class KernelLoader
{
    /// <exception cref="BootImageException">The image, the options or the memory cannot be booted.</exception>
    public static BootSetup Load(ReadOnlySpan<byte> image, GuestMemory memory, MemoryMap map, BootOptions options)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(map);
        ArgumentNullException.ThrowIfNull(options);
        return KernelImageFormats.Detect(image) switch
        {
            KernelImageFormat.Multiboot => MultibootLoader.Load(image, memory, map, options),
            KernelImageFormat.Elf32 or KernelImageFormat.Elf64 => ElfLoader.Load(image, memory, map, options),
            KernelImageFormat.BootSector => BootSectorLoader.Load(image, memory, map, options),
            KernelImageFormat.LinuxBzImage => Linux.LinuxLoader.Load(image, memory, map, options),
            _ => throw new BootImageException("unknown kernel image format"),
        };
    }
}
