using System.Text;
using Vessel.Boot.Setup;
using Vessel.Hypervisor;

namespace Vessel.Boot.Linux;

/// <summary>Boots a Linux bzImage through its 64-bit entry point (boot protocol 2.12+): the protected-mode
/// kernel at its preferred address, boot_params with the e820 map, the command line and the initrd,
/// identity-mapped page tables, a flat GDT, RSI = boot_params.</summary>
public static class LinuxLoader
{
    /// <summary>The 64-bit entry is 0x200 bytes into the protected-mode kernel.</summary>
    private const ulong Entry64Offset = 0x200;

    public static BootSetup Load(ReadOnlySpan<byte> image, GuestMemory memory, MemoryMap map, BootOptions options)
    {
        var header = LinuxSetupHeader.Parse(image);
        ReadOnlySpan<byte> kernel = image[header.KernelOffset..];

        byte[] commandLine = Encoding.ASCII.GetBytes(options.CommandLine + "\0");
        if ((ulong)commandLine.Length - 1 > header.CommandLineSize)
            throw new BootImageException($"the kernel command line is {commandLine.Length - 1} bytes; this kernel accepts at most {header.CommandLineSize}");

        ulong loadAddress = header.PreferredAddress != 0 ? header.PreferredAddress : MemoryMap.OneMiB;
        if (loadAddress % header.KernelAlignment != 0) loadAddress = AlignUp(loadAddress, header.KernelAlignment);
        var kernelRange = new PhysicalRange(loadAddress, loadAddress + header.InitSize);
        if (!map.IsRamRange(kernelRange))
            throw new BootImageException($"not enough RAM for this kernel: it needs 0x{loadAddress:x}-0x{kernelRange.End:x} ({kernelRange.End >> 20} MiB or more)");
        GuestWrites.Write(memory, loadAddress, kernel);

        ulong initrdAddress = 0, initrdSize = 0;
        if (options.Initrd is { } initrd)
        {
            initrdSize = (ulong)initrd.Length;
            initrdAddress = PlaceInitrd(map, header, kernelRange, initrdSize);
            GuestWrites.Write(memory, initrdAddress, initrd.Span);
        }

        var lowMemory = new LowMemoryAllocator(memory, map, []);
        ulong bootParams = lowMemory.Allocate(LinuxBootParams.Size, 4096, "boot_params");
        ulong commandLineAddress = lowMemory.Allocate((ulong)commandLine.Length, 16, "command line");
        GuestWrites.Write(memory, commandLineAddress, commandLine);
        GuestWrites.Write(memory, bootParams,
            LinuxBootParams.Build(image, header, map, commandLineAddress, initrdAddress, initrdSize));

        SpecialRegisters sregs = EntryState.LongMode(memory, lowMemory);
        ulong stackTop = EntryState.AllocateStack(lowMemory);
        Registers regs = EntryState.Registers(loadAddress + Entry64Offset, stackTop);
        regs.Rsi = bootParams;
        string initrdText = initrdSize > 0 ? $", initrd {initrdSize >> 10} KiB at 0x{initrdAddress:x}" : "";
        return new BootSetup(KernelImageFormat.LinuxBzImage, regs, sregs,
            $"Linux bzImage (boot protocol {header.Version >> 8}.{header.Version & 0xFF}), kernel at 0x{loadAddress:x}{initrdText}");
    }

    /// <summary>The initrd goes as high as the header allows, below 4 GiB, page-aligned, clear of the kernel.</summary>
    private static ulong PlaceInitrd(MemoryMap map, LinuxSetupHeader header, PhysicalRange kernel, ulong size)
    {
        ulong limit = Math.Min((ulong)header.InitrdAddressMax + 1, MemoryMap.PcMmioHoleStart);
        var candidate = new PhysicalRange(0, 0);
        for (int i = map.Entries.Count - 1; i >= 0; i--)
        {
            var e = map.Entries[i];
            if (e.Type != MemoryType.Ram || e.Start >= limit) continue;
            ulong top = Math.Min(e.End, limit);
            while (top >= size)
            {
                ulong start = (top - size) & ~0xFFFUL;
                if (start < e.Start || start < MemoryMap.OneMiB) break;
                candidate = new PhysicalRange(start, start + size);
                if (!candidate.Overlaps(kernel)) return start;
                top = kernel.Start; // the kernel sits at the top of this entry: try just below it
            }
        }
        throw new BootImageException($"the initrd ({size >> 20} MiB) does not fit in RAM below 0x{limit:x} next to the kernel");
    }

    private static ulong AlignUp(ulong value, ulong alignment) => (value + alignment - 1) / alignment * alignment;
}
