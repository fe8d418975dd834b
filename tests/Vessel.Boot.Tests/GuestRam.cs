using Vessel.Hypervisor;

namespace Vessel.Boot.Tests;

/// <summary>Guest RAM for a test: one region at 0 (or several, split at <c>splitAt</c>) and the PC map for it.</summary>
internal sealed class GuestRam : IDisposable
{
    private readonly List<GuestMemoryRegion> _regions = [];

    public GuestRam(ulong size = 16 << 20, params ulong[] splitAt)
    {
        ulong start = 0;
        int slot = 0;
        foreach (ulong end in splitAt.Append(size))
        {
            var region = new GuestMemoryRegion(end - start);
            _regions.Add(region);
            Memory.Map(slot++, start, region);
            start = end;
        }
        Map = MemoryMap.ForPc(size);
    }

    public GuestMemory Memory { get; } = new();
    public MemoryMap Map { get; }

    public BootSetup Load(byte[] image, BootOptions? options = null) =>
        KernelLoader.Load(image, Memory, Map, options ?? new BootOptions());

    public byte[] Read(ulong address, int length)
    {
        var bytes = new byte[length];
        Memory.Read(address, bytes);
        return bytes;
    }

    public string ReadCString(ulong address)
    {
        var bytes = new List<byte>();
        for (byte b; (b = Memory.ReadByte(address)) != 0; address++) bytes.Add(b);
        return System.Text.Encoding.UTF8.GetString(bytes.ToArray());
    }

    public void Dispose()
    {
        foreach (var r in _regions) r.Dispose();
    }
}
