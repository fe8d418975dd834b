using Vessel.Boot;
using Vessel.Hypervisor;

namespace Vessel.Fuzz;

/// <summary>The kernel loaders, reached as the VMM reaches them: <see cref="KernelLoader.Load"/> detects the
/// format from the bytes and loads into 32 MiB of guest RAM. One target per format, each seeded with valid
/// images of that format (a mutation may well turn one format into another, which is fine). The input's last
/// byte picks whether an initrd and a command line come along, so both paths of each loader are reached.</summary>
public static class KernelImageTargets
{
    public const ulong RamBytes = 32 << 20;

    /// <summary>Guest RAM per thread: the tests run targets in parallel, and mapping it per input would
    /// dominate the run.</summary>
    private static readonly ThreadLocal<(GuestMemory Memory, MemoryMap Map)> Guest = new(() =>
    {
        var memory = new GuestMemory();
        memory.Map(0, 0, new GuestMemoryRegion(RamBytes));
        return (memory, MemoryMap.ForPc(RamBytes));
    });

    /// <summary>Made per input, not held in a static: under libFuzzer, Vessel.Boot is instrumented, and none of its
    /// code may run before <c>Fuzzer.LibFuzzer.Run</c> has set the coverage map up.</summary>
    private static BootOptions Options(ReadOnlySpan<byte> image) => image.Length > 0 && (image[^1] & 1) != 0
        ? new BootOptions { CommandLine = "console=ttyS0 quiet", Initrd = new byte[4096] }
        : new BootOptions();

    public static void Load(ReadOnlySpan<byte> image)
    {
        var (memory, map) = Guest.Value;
        var options = Options(image);
        try
        {
            KernelLoader.Load(image, memory, map, options);
        }
        catch (BootImageException)
        {
        }
    }

    /// <summary>As <see cref="Load"/>, and a bzImage that loads must be found whole at its entry point afterwards:
    /// nothing the loader builds (boot_params, command line, page tables, initrd) may land on the kernel.</summary>
    public static void LoadBzImage(ReadOnlySpan<byte> image)
    {
        var (memory, map) = Guest.Value;
        var options = Options(image);
        BootSetup setup;
        try
        {
            setup = KernelLoader.Load(image, memory, map, options);
        }
        catch (BootImageException)
        {
            return;
        }
        if (setup.Format != KernelImageFormat.LinuxBzImage) return;
        int kernelOffset = ((image[0x1F1] == 0 ? 4 : image[0x1F1]) + 1) * 512;
        ulong kernelAt = setup.Registers.Rip - 0x200;
        var kernel = image[kernelOffset..];
        if (kernelAt > RamBytes - (ulong)kernel.Length || !memory.GetSpan(kernelAt, kernel.Length).SequenceEqual(kernel))
            throw new InvalidOperationException($"the bzImage's kernel at 0x{kernelAt:x} was not intact after loading");
    }

    public static FuzzTarget BzImage { get; } = new("bzimage", "Linux bzImage setup header and placement (Vessel.Boot.Linux)", LoadBzImage,
        () => [SeedImages.BzImage(), SeedImages.BzImage(preferred: 0x1000, initSize: 0x20000, alignment: 0x1000), SeedImages.BzImage(preferred: 0)]);

    public static FuzzTarget Pvh { get; } = new("pvh", "ELF notes and the PVH entry (Vessel.Boot.Pvh)", Load,
        () => [SeedImages.PvhKernel(), SeedImages.PvhKernel(entryNoteBytes: 4)]);

    public static FuzzTarget Elf { get; } = new("elf", "ELF32/ELF64 headers and program headers (Vessel.Boot.Elf)", Load,
        () => [SeedImages.Elf(is64: false), SeedImages.Elf(is64: true)]);

    public static FuzzTarget Multiboot { get; } = new("multiboot", "multiboot v1 header, a.out kludge, modules (Vessel.Boot.Multiboot)", Load,
        () => [SeedImages.MultibootElf(), SeedImages.AoutKludge()]);

    public static FuzzTarget BootSector { get; } = new("bootsector", "raw boot sectors and format detection", Load,
        () => [SeedImages.BootSector(512), SeedImages.BootSector(4096)]);
}
