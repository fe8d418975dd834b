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

        var kernelRange = KernelRange(header, map);
        ulong loadAddress = kernelRange.Start;
        GuestWrites.Write(memory, loadAddress, kernel);

        ulong initrdAddress = 0, initrdSize = 0;
        if (options.Initrd is { } initrd)
        {
            initrdSize = (ulong)initrd.Length;
            initrdAddress = PlaceInitrd(map, header, kernelRange, initrdSize);
            GuestWrites.Write(memory, initrdAddress, initrd.Span);
        }

        // A kernel whose preferred address is low shares base memory with what the loader builds: keep clear of it.
        PhysicalRange[] occupied = initrdSize > 0 ? [kernelRange, new(initrdAddress, initrdAddress + initrdSize)] : [kernelRange];
        var lowMemory = new LowMemoryAllocator(memory, map, occupied);
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

    /// <summary>Where the kernel goes: pref_address (1 MiB if 0) rounded up to kernel_alignment, init_size long.
    /// Every step is checked for wrapping past 2^64, and the result must be RAM the 64-bit entry can reach.</summary>
    private static PhysicalRange KernelRange(LinuxSetupHeader header, MemoryMap map)
    {
        ulong preferred = header.PreferredAddress != 0 ? header.PreferredAddress : PcLayout.OneMiB;
        ulong alignment = header.KernelAlignment;
        if (preferred > ulong.MaxValue - (alignment - 1))
            throw new BootImageException($"Linux bzImage's pref_address 0x{preferred:x} cannot be aligned to kernel_alignment 0x{alignment:x}: it wraps past the top of the address space");
        ulong loadAddress = AlignUp(preferred, alignment);
        if (!PhysicalRange.TryCreate(loadAddress, header.InitSize, out var range))
            throw new BootImageException($"Linux bzImage's kernel at 0x{loadAddress:x} (init_size 0x{header.InitSize:x}) wraps past the top of the address space");
        if (range.Start < PcLayout.OneMiB && range.End > PcLayout.LowRamEnd)
            throw new BootImageException($"Linux bzImage's kernel {range} (pref_address 0x{header.PreferredAddress:x}, init_size 0x{header.InitSize:x}) runs into the reserved area below 1 MiB");
        if (!map.IsRamRange(range))
            throw new BootImageException($"not enough RAM for this kernel: it needs {range} ({(range.End + (1UL << 20) - 1) >> 20} MiB or more)");
        if (loadAddress + Entry64Offset >= IdentityPageTables.MappedBytes)
            throw new BootImageException($"Linux bzImage's 64-bit entry 0x{loadAddress + Entry64Offset:x} lies above the identity-mapped first 4 GiB");
        return range;
    }

    /// <summary>The initrd goes as high as the header allows, below 4 GiB, page-aligned, clear of the kernel.</summary>
    private static ulong PlaceInitrd(MemoryMap map, LinuxSetupHeader header, PhysicalRange kernel, ulong size)
    {
        ulong limit = Math.Min((ulong)header.InitrdAddressMax + 1, PcLayout.MmioHoleStart);
        var candidate = new PhysicalRange(0, 0);
        for (int i = map.Entries.Count - 1; i >= 0; i--)
        {
            var e = map.Entries[i];
            if (e.Type != MemoryType.Ram || e.Start >= limit) continue;
            ulong top = Math.Min(e.End, limit);
            while (top >= size)
            {
                ulong start = (top - size) & ~0xFFFUL;
                if (start < e.Start || start < PcLayout.OneMiB) break;
                candidate = new PhysicalRange(start, start + size);
                if (!candidate.Overlaps(kernel)) return start;
                top = kernel.Start; // the kernel sits at the top of this entry: try just below it
            }
        }
        throw new BootImageException($"the initrd ({size >> 20} MiB) does not fit in RAM below 0x{limit:x} next to the kernel");
    }

    private static ulong AlignUp(ulong value, ulong alignment) => (value + alignment - 1) / alignment * alignment;
}
