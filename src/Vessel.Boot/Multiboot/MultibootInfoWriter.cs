using System.Buffers.Binary;
using System.Text;
using Vessel.Boot.Setup;
using Vessel.Hypervisor;

namespace Vessel.Boot.Multiboot;

/// <summary>Builds the Multiboot v1 information structure (and the strings, module list and memory map it points
/// to) in low memory.</summary>
internal static class MultibootInfoWriter
{
    public const uint FlagMemory = 1, FlagCommandLine = 1 << 2, FlagModules = 1 << 3, FlagMemoryMap = 1 << 6, FlagLoaderName = 1 << 9;
    public const string LoaderName = "Vessel";
    private const int InfoSize = 120; // through the framebuffer fields (116 bytes), rounded up
    private const int ModuleEntrySize = 16, MemoryMapEntrySize = 24;

    /// <summary>Returns the structure's guest-physical address (for EBX).</summary>
    public static ulong Write(GuestMemory memory, LowMemoryAllocator lowMemory, MemoryMap map,
        byte[] commandLine, IReadOnlyList<(PhysicalRange Range, byte[] CommandLine)> modules)
    {
        ulong info = lowMemory.Allocate(InfoSize, 8, "multiboot information");
        ulong cmdline = WriteString(memory, lowMemory, commandLine, "command line");
        ulong loaderName = WriteString(memory, lowMemory, Encoding.ASCII.GetBytes(LoaderName), "boot loader name");
        ulong moduleList = WriteModuleList(memory, lowMemory, modules);
        var (mmap, mmapLength) = WriteMemoryMap(memory, lowMemory, map);

        Span<byte> s = stackalloc byte[InfoSize];
        s.Clear();
        uint flags = FlagMemory | FlagCommandLine | FlagModules | FlagMemoryMap | FlagLoaderName;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], map.LowerMemoryKiB);
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], map.UpperMemoryKiB);
        BinaryPrimitives.WriteUInt32LittleEndian(s[16..], (uint)cmdline);
        BinaryPrimitives.WriteUInt32LittleEndian(s[20..], (uint)modules.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(s[24..], (uint)moduleList);
        BinaryPrimitives.WriteUInt32LittleEndian(s[44..], mmapLength);
        BinaryPrimitives.WriteUInt32LittleEndian(s[48..], (uint)mmap);
        BinaryPrimitives.WriteUInt32LittleEndian(s[64..], (uint)loaderName);
        GuestWrites.Write(memory, info, s);
        return info;
    }

    /// <summary>A 0-terminated string (the allocator zeroes, so the terminator is already there).</summary>
    private static ulong WriteString(GuestMemory memory, LowMemoryAllocator lowMemory, byte[] text, string what)
    {
        ulong address = lowMemory.Allocate((ulong)text.Length + 1, 1, what);
        GuestWrites.Write(memory, address, text);
        return address;
    }

    private static ulong WriteModuleList(GuestMemory memory, LowMemoryAllocator lowMemory,
        IReadOnlyList<(PhysicalRange Range, byte[] CommandLine)> modules)
    {
        if (modules.Count == 0) return 0;
        var list = new byte[modules.Count * ModuleEntrySize];
        for (int i = 0; i < modules.Count; i++)
        {
            ulong name = WriteString(memory, lowMemory, modules[i].CommandLine, "module command line");
            var entry = list.AsSpan(i * ModuleEntrySize);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[0..], (uint)modules[i].Range.Start);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[4..], (uint)modules[i].Range.End);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[8..], (uint)name);
        }
        ulong address = lowMemory.Allocate((ulong)list.Length, 16, "module list");
        GuestWrites.Write(memory, address, list);
        return address;
    }

    /// <summary>Entries are (size = 20, base, length, type); size counts the bytes after itself.</summary>
    private static (ulong Address, uint Length) WriteMemoryMap(GuestMemory memory, LowMemoryAllocator lowMemory, MemoryMap map)
    {
        var bytes = new byte[map.Entries.Count * MemoryMapEntrySize];
        for (int i = 0; i < map.Entries.Count; i++)
        {
            var e = map.Entries[i];
            var entry = bytes.AsSpan(i * MemoryMapEntrySize);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[0..], MemoryMapEntrySize - 4);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[4..], e.Start);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[12..], e.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[20..], (uint)e.Type);
        }
        ulong address = lowMemory.Allocate((ulong)bytes.Length, 8, "memory map");
        GuestWrites.Write(memory, address, bytes);
        return (address, (uint)bytes.Length);
    }
}
