using System.Text;
using Vessel.Boot.Elf;
using Vessel.Boot.Setup;
using Vessel.Hypervisor;

namespace Vessel.Boot.Multiboot;

/// <summary>Boots a Multiboot v1 kernel as the specification says: kernel loaded (a.out kludge if flag 16, else
/// ELF program headers), modules page-aligned after it, information structure in low memory, and entry in
/// 32-bit protected mode with EAX = 0x2BADB002 and EBX = the information structure.</summary>
internal static class MultibootLoader
{
    public const uint BootloaderMagic = 0x2BADB002;
    public const int MaxCommandLineBytes = 4095;
    private const ulong FourGiB = 1UL << 32;

    public static BootSetup Load(ReadOnlySpan<byte> image, GuestMemory memory, MemoryMap map, BootOptions options)
    {
        var header = MultibootHeader.Parse(image);
        string fullCommandLine = options.ImageName is { } name ? $"{name} {options.CommandLine}".TrimEnd() : options.CommandLine;
        byte[] commandLine = EncodeCommandLine(fullCommandLine, "command line");
        var modules = options.AllModules;
        var moduleNames = modules.Select((m, i) => EncodeCommandLine(m.CommandLine, $"module {i} command line")).ToList();

        var (kernel, entry, kind) = LoadKernel(image, header, memory, map);
        if (entry >= FourGiB || !map.IsRamRange(entry, entry + 1))
            throw new BootImageException($"multiboot entry point 0x{entry:x} is not in RAM below 4 GiB");

        // The firmware Vessel runs before a multiboot kernel (LegacyFirmware) owns the real-mode vector table and
        // BIOS data area; a kernel loaded there would be overwritten before its first instruction.
        var firmwareArea = new PhysicalRange(0, LowMemoryAllocator.Bottom);
        foreach (var range in kernel)
            if (range.Overlaps(firmwareArea))
                throw new BootImageException($"multiboot kernel {range} overlaps the interrupt vector table and BIOS data area ({firmwareArea})");

        var labels = modules.Select((_, i) => i == 0 && options.Initrd is not null ? "initrd" : $"module {i}").ToList();
        var placed = ModulePlacer.Place(modules, labels, kernel.Max(r => r.End), map);
        for (int i = 0; i < modules.Count; i++) GuestWrites.Write(memory, placed[i].Start, modules[i].Data.Span);

        var lowMemory = new LowMemoryAllocator(memory, map, [.. kernel, .. placed]);
        var sregs = EntryState.ProtectedMode(memory, lowMemory);
        ulong info = MultibootInfoWriter.Write(memory, lowMemory, map, commandLine, [.. placed.Zip(moduleNames)]);
        var regs = EntryState.Registers(entry, EntryState.AllocateStack(lowMemory), rax: BootloaderMagic, rbx: info);

        string mods = modules.Count == 0 ? "" : $", {modules.Count} module{(modules.Count == 1 ? "" : "s")}";
        return new BootSetup(KernelImageFormat.Multiboot, regs, sregs, $"multiboot {kind}, entry 0x{entry:x}{mods}");
    }

    private static (IReadOnlyList<PhysicalRange> Kernel, ulong Entry, string Kind) LoadKernel(
        ReadOnlySpan<byte> image, MultibootHeader header, GuestMemory memory, MemoryMap map)
    {
        if (header.HasAddressFields)
            return ([AoutKludgeLoader.Load(image, header, memory, map)], header.EntryAddress, "a.out kludge");
        if (!ElfImage.HasElfMagic(image))
            throw new BootImageException("multiboot kernel is not ELF and its header has no address fields (flag 16)");
        var elf = ElfImage.Parse(image);
        var ranges = ElfSegmentLoader.Load(image, elf, memory, map, FourGiB);
        return (ranges, elf.PhysicalEntry, elf.Name);
    }

    private static byte[] EncodeCommandLine(string text, string what)
    {
        if (text.Contains('\0')) throw new BootImageException($"{what} contains a NUL character");
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        if (bytes.Length > MaxCommandLineBytes)
            throw new BootImageException($"{what} is {bytes.Length} bytes long; the limit is {MaxCommandLineBytes}");
        return bytes;
    }
}
