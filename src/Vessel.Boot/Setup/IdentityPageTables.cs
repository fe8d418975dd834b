using System.Buffers.Binary;
using Vessel.Hypervisor;

namespace Vessel.Boot.Setup;

/// <summary>4-level page tables that identity-map the first 4 GiB with 2 MiB pages (no 1 GiB pages, which not
/// every CPU has): one PML4, one PDPT, four page directories, six contiguous pages in low memory.</summary>
public static class IdentityPageTables
{
    public const ulong MappedBytes = 4UL << 30;
    public const ulong Present = 1, Writable = 2, LargePage = 0x80;
    private const int PageSize = 4096, Directories = 4, EntriesPerTable = 512;

    /// <summary>Writes the tables; returns the PML4's address (the value for CR3).</summary>
    internal static ulong Write(GuestMemory memory, LowMemoryAllocator lowMemory)
    {
        const int bytes = (2 + Directories) * PageSize;
        ulong pml4 = lowMemory.Allocate(bytes, PageSize, "page tables");
        ulong pdpt = pml4 + PageSize, firstDirectory = pdpt + PageSize;

        var tables = new byte[bytes];
        BinaryPrimitives.WriteUInt64LittleEndian(tables, pdpt | Present | Writable);
        for (int d = 0; d < Directories; d++)
        {
            ulong directory = firstDirectory + (ulong)(d * PageSize);
            BinaryPrimitives.WriteUInt64LittleEndian(tables.AsSpan(PageSize + d * 8), directory | Present | Writable);
            for (int e = 0; e < EntriesPerTable; e++)
            {
                ulong physical = ((ulong)d << 30) | ((ulong)e << 21);
                BinaryPrimitives.WriteUInt64LittleEndian(
                    tables.AsSpan((2 + d) * PageSize + e * 8), physical | Present | Writable | LargePage);
            }
        }
        GuestWrites.Write(memory, pml4, tables);
        return pml4;
    }
}
