using Vessel.Hypervisor;

namespace Vessel.Boot.Multiboot;

/// <summary>Loads a multiboot kernel by its header's address fields: the file from the byte that maps to
/// load_addr up to load_end_addr (0: end of file) goes to load_addr, then [load_end_addr, bss_end_addr) is zeroed.</summary>
internal static class AoutKludgeLoader
{
    /// <summary>Returns the range the kernel occupies, bss included.</summary>
    public static PhysicalRange Load(ReadOnlySpan<byte> image, MultibootHeader header, GuestMemory memory, MemoryMap map)
    {
        if (header.HeaderAddress < header.LoadAddress)
            throw new BootImageException($"multiboot header_addr 0x{header.HeaderAddress:x} is below load_addr 0x{header.LoadAddress:x}");
        ulong headerDistance = header.HeaderAddress - header.LoadAddress;
        if (headerDistance > (ulong)header.Offset)
            throw new BootImageException($"multiboot load_addr 0x{header.LoadAddress:x} lies before the start of the file");
        ulong fileStart = (ulong)header.Offset - headerDistance;

        ulong loadEnd = header.LoadEndAddress == 0
            ? header.LoadAddress + ((ulong)image.Length - fileStart)
            : header.LoadEndAddress;
        if (loadEnd < header.LoadAddress)
            throw new BootImageException($"multiboot load_end_addr 0x{loadEnd:x} is below load_addr 0x{header.LoadAddress:x}");
        ulong fileBytes = loadEnd - header.LoadAddress;
        var text = ImageBytes.Slice(image, fileStart, fileBytes, "multiboot load range");

        ulong bssEnd = header.BssEndAddress == 0 ? loadEnd : header.BssEndAddress;
        if (bssEnd < loadEnd)
            throw new BootImageException($"multiboot bss_end_addr 0x{bssEnd:x} is below load_end_addr 0x{loadEnd:x}");
        var range = new PhysicalRange(header.LoadAddress, bssEnd);
        if (range.End > 1UL << 32)
            throw new BootImageException($"multiboot kernel {range} extends beyond 4 GiB");
        if (!map.IsRamRange(range))
            throw new BootImageException($"multiboot kernel {range} is not in RAM");

        GuestWrites.Write(memory, range.Start, text);
        GuestWrites.Zero(memory, loadEnd, bssEnd - loadEnd);
        return range;
    }
}
