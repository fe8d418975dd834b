using System.Buffers.Binary;
using System.Text;
using Vessel.Boot.Elf;
using Vessel.Boot.Multiboot;
using Vessel.Boot.Setup;
using Vessel.Hypervisor;

namespace Vessel.Boot.Pvh;

/// <summary>Boots an ELF kernel through its PVH entry (as Firecracker and Cloud Hypervisor boot vmlinux):
/// segments at their physical addresses, an hvm_start_info (version 1) with the command line, the initrd as
/// module 0 and the memory map, then entry in 32-bit protected mode, paging off, EBX = the start info.</summary>
internal static class PvhLoader
{
    public const uint StartInfoMagic = 0x336ec578;
    public const int StartInfoSize = 56, ModuleEntrySize = 32, MemoryMapEntrySize = 24;
    public const int MaxCommandLineBytes = 4095;
    private const ulong FourGiB = 1UL << 32;

    public static BootSetup Load(ReadOnlySpan<byte> image, ElfImage elf, ulong entry, GuestMemory memory, MemoryMap map, BootOptions options)
    {
        if (options.Modules.Count > 0) throw new BootImageException("a PVH kernel takes an initrd but no further modules");
        byte[] commandLine = Encoding.UTF8.GetBytes(options.CommandLine);
        if (commandLine.Length > MaxCommandLineBytes)
            throw new BootImageException($"the command line is {commandLine.Length} bytes; the PVH loader takes at most {MaxCommandLineBytes}");
        if (commandLine.AsSpan().Contains((byte)0)) throw new BootImageException("the command line contains a NUL byte");

        var kernel = ElfSegmentLoader.Load(image, elf, memory, map, FourGiB);
        if (entry >= FourGiB || !map.IsRamRange(entry, entry + 1))
            throw new BootImageException($"PVH entry point 0x{entry:x} is not in RAM below 4 GiB");

        IReadOnlyList<PhysicalRange> placed = [];
        if (options.Initrd is { } initrd)
        {
            placed = ModulePlacer.Place([new BootModule(initrd)], ["initrd"], kernel.Max(r => r.End), map);
            GuestWrites.Write(memory, placed[0].Start, initrd.Span);
        }

        var lowMemory = new LowMemoryAllocator(memory, map, [.. kernel, .. placed]);
        var sregs = EntryState.ProtectedMode(memory, lowMemory);
        ulong startInfo = WriteStartInfo(memory, lowMemory, map, commandLine, placed);
        var regs = EntryState.Registers(entry, EntryState.AllocateStack(lowMemory), rbx: startInfo);

        string initrdText = placed.Count > 0 ? $", initrd {placed[0].Length >> 10} KiB at 0x{placed[0].Start:x}" : "";
        return new BootSetup(elf.Is64 ? KernelImageFormat.Elf64 : KernelImageFormat.Elf32, regs, sregs,
            $"{elf.Name} with PVH entry 0x{entry:x}{initrdText}");
    }

    private static ulong WriteStartInfo(GuestMemory memory, LowMemoryAllocator lowMemory, MemoryMap map,
        byte[] commandLine, IReadOnlyList<PhysicalRange> modules)
    {
        ulong cmdline = lowMemory.Allocate((ulong)commandLine.Length + 1, 8, "PVH command line");
        GuestWrites.Write(memory, cmdline, [.. commandLine, 0]);

        ulong modlist = 0;
        if (modules.Count > 0)
        {
            var entries = new byte[modules.Count * ModuleEntrySize];
            for (int i = 0; i < modules.Count; i++)
            {
                var e = entries.AsSpan(i * ModuleEntrySize);
                BinaryPrimitives.WriteUInt64LittleEndian(e, modules[i].Start);
                BinaryPrimitives.WriteUInt64LittleEndian(e[8..], modules[i].Length);
            }
            modlist = lowMemory.Allocate((ulong)entries.Length, 8, "PVH module list");
            GuestWrites.Write(memory, modlist, entries);
        }

        var memmap = new byte[map.Entries.Count * MemoryMapEntrySize];
        for (int i = 0; i < map.Entries.Count; i++)
        {
            var e = memmap.AsSpan(i * MemoryMapEntrySize);
            BinaryPrimitives.WriteUInt64LittleEndian(e, map.Entries[i].Start);
            BinaryPrimitives.WriteUInt64LittleEndian(e[8..], map.Entries[i].Length);
            BinaryPrimitives.WriteUInt32LittleEndian(e[16..], (uint)map.Entries[i].Type);
        }
        ulong memmapAddress = lowMemory.Allocate((ulong)memmap.Length, 8, "PVH memory map");
        GuestWrites.Write(memory, memmapAddress, memmap);

        var info = new byte[StartInfoSize];
        var s = info.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(s, StartInfoMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], 1); // version 1: has the memory map
        BinaryPrimitives.WriteUInt32LittleEndian(s[12..], (uint)modules.Count);
        BinaryPrimitives.WriteUInt64LittleEndian(s[16..], modlist);
        BinaryPrimitives.WriteUInt64LittleEndian(s[24..], cmdline);
        BinaryPrimitives.WriteUInt64LittleEndian(s[32..], 0); // no ACPI RSDP
        BinaryPrimitives.WriteUInt64LittleEndian(s[40..], memmapAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(s[48..], (uint)map.Entries.Count);
        ulong address = lowMemory.Allocate(StartInfoSize, 8, "PVH start info");
        GuestWrites.Write(memory, address, info);
        return address;
    }
}
