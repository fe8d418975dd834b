using Vessel.Boot.Setup;
using Vessel.Hypervisor;

namespace Vessel.Boot.Elf;

/// <summary>An ELF kernel without a multiboot header: with a PVH note it boots the PVH way (<see cref="Pvh.PvhLoader"/>);
/// otherwise, a bare ELF kernel: ELF32 is entered in 32-bit protected mode, ELF64 in long
/// mode on identity-mapped page tables, both with EAX/EBX = 0 and RSP at the top of a loader-made stack.</summary>
internal static class ElfLoader
{
    public static BootSetup Load(ReadOnlySpan<byte> image, GuestMemory memory, MemoryMap map, BootOptions options)
    {
        var elf = ElfImage.Parse(image);
        if (Pvh.PvhNote.FindEntry(elf) is { } pvhEntry)
            return Pvh.PvhLoader.Load(image, elf, pvhEntry, memory, map, options);
        BootOptionChecks.RequireNone(options, elf.Name);
        ulong limit = elf.Is64 ? ulong.MaxValue : 1UL << 32;
        var occupied = ElfSegmentLoader.Load(image, elf, memory, map, limit);

        ulong entry = elf.PhysicalEntry;
        ulong entryLimit = elf.Is64 ? IdentityPageTables.MappedBytes : 1UL << 32;
        if (entry >= entryLimit || !map.IsRamRange(entry, entry + 1))
            throw new BootImageException($"{elf.Name} entry point 0x{entry:x} is not in RAM{(elf.Is64 ? " below 4 GiB" : "")}");

        var lowMemory = new LowMemoryAllocator(memory, map, occupied);
        var sregs = elf.Is64 ? EntryState.LongMode(memory, lowMemory) : EntryState.ProtectedMode(memory, lowMemory);
        var regs = EntryState.Registers(entry, EntryState.AllocateStack(lowMemory));
        var format = elf.Is64 ? KernelImageFormat.Elf64 : KernelImageFormat.Elf32;
        string mode = elf.Is64 ? "64-bit long mode" : "32-bit protected mode";
        return new BootSetup(format, regs, sregs, $"{elf.Name}, entry 0x{entry:x}, {mode}");
    }
}
