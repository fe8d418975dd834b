using System.Runtime.InteropServices;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu;

/// <summary>The one host atomic .NET lacks: a 16-byte compare-and-swap (LOCK CMPXCHG16B), which the guest's
/// CMPXCHG16B needs to stay atomic against other vCPUs' plain stores. The few bytes of host code are
/// assembled by Iced at first use into an executable page of their own.</summary>
internal static unsafe partial class HostAtomics
{
    private static readonly delegate* unmanaged<ulong*, ulong*, ulong, ulong, int> s_compareExchange128 = Build();

    /// <summary>Atomically replaces the 16 bytes at <paramref name="location"/> with newHigh:newLow if they equal
    /// expectedHigh:expectedLow; otherwise the expected pair receives what is there.</summary>
    public static bool CompareExchange128(byte* location, ref ulong expectedLow, ref ulong expectedHigh, ulong newLow, ulong newHigh)
    {
        ulong* expected = stackalloc ulong[2];
        expected[0] = expectedLow;
        expected[1] = expectedHigh;
        bool swapped = s_compareExchange128((ulong*)location, expected, newLow, newHigh) != 0;
        expectedLow = expected[0];
        expectedHigh = expected[1];
        return swapped;
    }

    /// <summary>int cas(ulong* location /*rdi*/, ulong* expected /*rsi*/, ulong newLow /*rdx*/, ulong newHigh /*rcx*/),
    /// System V calling convention.</summary>
    private static delegate* unmanaged<ulong*, ulong*, ulong, ulong, int> Build()
    {
        var a = new Assembler(64);
        a.push(rbx);
        a.mov(r8, rsi);
        a.mov(rbx, rdx);
        a.mov(rax, __qword_ptr[r8]);
        a.mov(rdx, __qword_ptr[r8 + 8]);
        a.@lock.cmpxchg16b(__xmmword_ptr[rdi]);
        a.mov(__qword_ptr[r8], rax);
        a.mov(__qword_ptr[r8 + 8], rdx);
        a.sete(al);
        a.movzx(eax, al);
        a.pop(rbx);
        a.ret();
        using var code = new MemoryStream();
        a.Assemble(new StreamCodeWriter(code), 0);

        const int PageSize = 4096, ProtRead = 1, ProtWrite = 2, ProtExec = 4, MapPrivate = 0x02, MapAnonymous = 0x20;
        nint page = Mmap(0, PageSize, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (page == -1) throw new InvalidOperationException($"mmap of the host atomics page failed (errno {Marshal.GetLastPInvokeError()})");
        code.ToArray().CopyTo(new Span<byte>((void*)page, PageSize));
        if (Mprotect(page, PageSize, ProtRead | ProtExec) != 0)
            throw new InvalidOperationException($"mprotect of the host atomics page failed (errno {Marshal.GetLastPInvokeError()})");
        return (delegate* unmanaged<ulong*, ulong*, ulong, ulong, int>)page;
    }

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static partial int Mprotect(nint addr, nuint length, int prot);
}
