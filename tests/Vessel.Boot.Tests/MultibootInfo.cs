namespace Vessel.Boot.Tests;

/// <summary>Reads a Multiboot v1 information structure back out of guest memory.</summary>
internal sealed class MultibootInfo(GuestRam ram, ulong address)
{
    public uint Flags => U32(0);
    public uint MemLower => U32(4);
    public uint MemUpper => U32(8);
    public string CommandLine => ram.ReadCString(U32(16));
    public uint ModsCount => U32(20);
    public uint ModsAddr => U32(24);
    public uint MmapLength => U32(44);
    public uint MmapAddr => U32(48);
    public string LoaderName => ram.ReadCString(U32(64));

    public (uint Start, uint End, string CommandLine) Module(int i)
    {
        ulong entry = ModsAddr + (ulong)i * 16;
        return (ram.Memory.ReadUInt32(entry), ram.Memory.ReadUInt32(entry + 4), ram.ReadCString(ram.Memory.ReadUInt32(entry + 8)));
    }

    public List<(uint Size, ulong Base, ulong Length, uint Type)> MemoryMap()
    {
        var entries = new List<(uint, ulong, ulong, uint)>();
        for (ulong p = MmapAddr; p < MmapAddr + MmapLength;)
        {
            uint size = ram.Memory.ReadUInt32(p);
            entries.Add((size, ram.Memory.ReadUInt64(p + 4), ram.Memory.ReadUInt64(p + 12), ram.Memory.ReadUInt32(p + 20)));
            p += size + 4;
        }
        return entries;
    }

    private uint U32(ulong offset) => ram.Memory.ReadUInt32(address + offset);
}
