using Vessel.Hypervisor;

namespace Vessel.Boot.Elf;

/// <summary>Copies an ELF image's loadable segments to their physical addresses (p_paddr) and zeroes their bss.</summary>
internal static class ElfSegmentLoader
{
    /// <summary>Checks every segment lies in RAM below <paramref name="addressLimit"/>, then loads them all;
    /// returns the physical ranges they occupy.</summary>
    public static IReadOnlyList<PhysicalRange> Load(
        ReadOnlySpan<byte> image, ElfImage elf, GuestMemory memory, MemoryMap map, ulong addressLimit)
    {
        var ranges = new List<PhysicalRange>();
        for (int i = 0; i < elf.LoadSegments.Count; i++)
        {
            var s = elf.LoadSegments[i];
            if (!PhysicalRange.TryCreate(s.PhysicalAddress, s.MemorySize, out var range))
                throw new BootImageException($"ELF segment at 0x{s.PhysicalAddress:x} (0x{s.MemorySize:x} bytes) wraps past the top of the address space");
            if (range.End > addressLimit)
                throw new BootImageException($"ELF segment {range} lies above 0x{addressLimit:x}, out of the entry mode's reach");
            if (!map.IsRamRange(range))
                throw new BootImageException($"ELF segment {range} is not in RAM");
            ranges.Add(range);
        }
        for (int i = 0; i < elf.LoadSegments.Count; i++)
        {
            var s = elf.LoadSegments[i];
            var bytes = ImageBytes.Slice(image, s.FileOffset, s.FileSize, "ELF segment");
            GuestWrites.Write(memory, s.PhysicalAddress, bytes);
            GuestWrites.Zero(memory, s.PhysicalAddress + s.FileSize, s.MemorySize - s.FileSize);
        }
        return ranges;
    }
}
