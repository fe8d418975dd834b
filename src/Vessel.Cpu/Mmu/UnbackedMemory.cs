using System.Runtime.InteropServices;

namespace Vessel.Cpu;

/// <summary>What the CPU itself reads where no RAM is: all ones, as a read that no device answers returns on
/// hardware. A page-table entry there is all ones (present, with reserved bits set: a #PF with RSVD where the
/// paging mode checks them); code there is 0xFF bytes (an invalid opcode: #UD). One read-only-in-effect page
/// shared by every vCPU: the walker's accessed/dirty updates OR in bits that are already set.</summary>
internal static unsafe class UnbackedMemory
{
    public static readonly byte* AllOnesPage = Allocate();

    private static byte* Allocate()
    {
        var page = (byte*)NativeMemory.AlignedAlloc(4096, 4096);
        new Span<byte>(page, 4096).Fill(0xFF);
        return page;
    }
}
