using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Iced.Intel;
using Vessel.Cpu.Tests.Core;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>Runs an SSE instruction natively on the host CPU from given XMM0/XMM1, MXCSR and EAX, inside a
/// stub in an executable page. MXCSR exception masks must stay set: an unmasked exception would be
/// delivered to this process.</summary>
internal sealed unsafe class HostSse : IDisposable
{
    [StructLayout(LayoutKind.Sequential)]
    public struct State
    {
        public Vector128<byte> Xmm0, Xmm1;
        public uint MxcsrIn, MxcsrOut, MxcsrSaved, Pad;
        public ulong Rax, Rflags;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);
    [DllImport("libc")]
    private static extern int munmap(nint addr, nuint length);

    private const int PageSize = 4096;
    private readonly nint _page;

    public HostSse()
    {
        _page = mmap(0, PageSize, 7 /* RWX */, 0x22 /* PRIVATE|ANONYMOUS */, -1, 0);
        if (_page == -1) throw new InvalidOperationException("mmap failed");
    }

    /// <summary>Executes <paramref name="body"/> (which may use xmm0, xmm1, eax) natively.</summary>
    public State Run(Action<Assembler> body, State s)
    {
        var buffer = new byte[64];
        fixed (byte* p = buffer)
        {
            RunRaw(body, p, s);
            return *(State*)p;
        }
    }

    /// <summary>Runs with rdi pointing at <paramref name="buffer"/>, whose first 64 bytes receive the
    /// <see cref="State"/>; bytes from offset 64 are free for the body's own memory operands.</summary>
    public void RunRaw(Action<Assembler> body, byte* buffer, State s)
    {
        *(State*)buffer = s;
        byte[] code = TinyGuest.Assemble(64, (ulong)_page, a =>
        {
            a.stmxcsr(__dword_ptr[rdi + 40]);
            a.ldmxcsr(__dword_ptr[rdi + 32]);
            a.movdqu(xmm0, __xmmword_ptr[rdi]);
            a.movdqu(xmm1, __xmmword_ptr[rdi + 16]);
            a.mov(rax, __qword_ptr[rdi + 48]);
            body(a);
            a.movdqu(__xmmword_ptr[rdi], xmm0);
            a.mov(__qword_ptr[rdi + 48], rax);
            a.pushfq();
            a.pop(rdx);
            a.mov(__qword_ptr[rdi + 56], rdx);
            a.stmxcsr(__dword_ptr[rdi + 36]);
            a.ldmxcsr(__dword_ptr[rdi + 40]);
            a.ret();
        });
        if (code.Length > PageSize) throw new InvalidOperationException("stub too long");
        Marshal.Copy(code, 0, _page, code.Length);
        var fn = (delegate* unmanaged<byte*, void>)_page;
        fn(buffer);
    }

    public void Dispose() => munmap(_page, PageSize);
}
