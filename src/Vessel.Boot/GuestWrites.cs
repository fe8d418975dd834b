using Vessel.Hypervisor;

namespace Vessel.Boot;

/// <summary>Writes into guest RAM that may span several memory slots; a gap becomes a <see cref="BootImageException"/>.</summary>
internal static class GuestWrites
{
    public static void Write(GuestMemory memory, ulong address, ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            int chunk = (int)Math.Min((ulong)data.Length, BytesInSlotAt(memory, address));
            memory.Write(address, data[..chunk]);
            address += (ulong)chunk;
            data = data[chunk..];
        }
    }

    public static void Zero(GuestMemory memory, ulong address, ulong length)
    {
        while (length > 0)
        {
            int chunk = (int)Math.Min(Math.Min(length, BytesInSlotAt(memory, address)), 1UL << 30);
            memory.Fill(address, chunk, 0);
            address += (ulong)chunk;
            length -= (ulong)chunk;
        }
    }

    private static ulong BytesInSlotAt(GuestMemory memory, ulong address)
    {
        foreach (var slot in memory.Slots)
            if (address >= slot.GuestAddress && address < slot.End)
                return slot.End - address;
        throw new BootImageException($"guest-physical address 0x{address:x} is RAM in the memory map but no guest memory backs it");
    }
}
