using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Differential;

/// <summary>Runs instruction bytes on the host CPU. One RWX region below 2 GiB (so absolute addresses fit a
/// disp32) holds a stub, its state block and the memory window the instructions may touch. The stub saves the
/// callee-saved registers and the host RSP, blocks every signal (a signal frame pushed below the private RSP
/// would scribble on the window), loads RFLAGS and all 16 GPRs, runs the bytes, stores GPRs and RFLAGS, and
/// undoes the rest.</summary>
internal sealed unsafe class NativeExecutor : IDisposable
{
    private const int RegionSize = 0x10000;
    private const int TestAreaOffset = 0x400, TestAreaSize = 0x400, EpilogueOffset = 0x800;
    private const int InRegs = 0x1000, InFlags = 0x1080, OutRegs = 0x1100, OutFlags = 0x1180;
    private const int SavedRsp = 0x1200, NewMask = 0x1208, OldMask = 0x1210;
    public const int WindowOffset = 0x4000;

    private readonly nint _region;

    public NativeExecutor()
    {
        _region = NativeMethods.mmap(0, RegionSize, NativeMethods.ProtRead | NativeMethods.ProtWrite | NativeMethods.ProtExec,
            NativeMethods.MapPrivate | NativeMethods.MapAnonymous | NativeMethods.Map32Bit, -1, 0);
        if (_region == -1 || _region == 0)
            throw new InvalidOperationException($"mmap of the RWX test page failed (errno {Marshal.GetLastPInvokeError()})");
        if ((ulong)_region + RegionSize > 0x8000_0000)
            throw new InvalidOperationException($"MAP_32BIT gave 0x{_region:x}, above 2 GiB");
        *(ulong*)(_region + NewMask) = ulong.MaxValue;
        WriteCode(0, Prologue());
        WriteCode(EpilogueOffset, Epilogue());
    }

    /// <summary>Linear address of the window, the same in the guest.</summary>
    public ulong WindowBase => (ulong)_region + WindowOffset;

    private ulong At(int offset) => (ulong)_region + (ulong)offset;

    private byte[] Prologue()
    {
        var a = new Assembler(64);
        a.push(rbx); a.push(rbp); a.push(r12); a.push(r13); a.push(r14); a.push(r15);
        a.mov(__qword_ptr[At(SavedRsp)], rsp);
        EmitSigprocmask(a, how: 0, set: At(NewMask), old: At(OldMask)); // SIG_BLOCK everything
        a.mov(rsp, At(InFlags));
        a.popfq();
        AssemblerRegister64[] regs = [rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15];
        for (int i = 0; i < 16; i++)
            a.mov(regs[i], __qword_ptr[At(InRegs + i * 8)]);
        a.jmp(At(TestAreaOffset));
        return Assemble(a, At(0));
    }

    private byte[] Epilogue()
    {
        var a = new Assembler(64);
        AssemblerRegister64[] regs = [rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15];
        for (int i = 0; i < 16; i++)
            a.mov(__qword_ptr[At(OutRegs + i * 8)], regs[i]);
        a.mov(rsp, At(OutFlags + 8));
        a.pushfq();
        a.mov(rsp, __qword_ptr[At(SavedRsp)]);
        EmitSigprocmask(a, how: 2, set: At(OldMask), old: 0); // SIG_SETMASK back
        a.cld();
        a.pop(r15); a.pop(r14); a.pop(r13); a.pop(r12); a.pop(rbp); a.pop(rbx);
        a.ret();
        return Assemble(a, At(EpilogueOffset));
    }

    private static void EmitSigprocmask(Assembler a, int how, ulong set, ulong old)
    {
        a.mov(eax, 14); // rt_sigprocmask
        a.mov(edi, how);
        a.mov(esi, (uint)set);
        a.mov(edx, (uint)old);
        a.mov(r10d, 8);
        a.syscall();
    }

    private static byte[] Assemble(Assembler a, ulong address) => GuestCode.Assemble(a, address);

    private void WriteCode(int offset, byte[] code)
    {
        if (code.Length > TestAreaOffset) throw new InvalidOperationException("stub too long");
        code.CopyTo(new Span<byte>((void*)(_region + offset), code.Length));
    }

    /// <summary>Runs <paramref name="code"/> (position-independent, no branches out) from <paramref name="input"/>
    /// with the window holding <paramref name="window"/>; returns the final state, the window updated in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public CpuState Run(ReadOnlySpan<byte> code, CpuState input, Span<byte> window)
    {
        if (code.Length + 5 > TestAreaSize) throw new ArgumentException("test code too long");
        var test = new Span<byte>((void*)(_region + TestAreaOffset), TestAreaSize);
        code.CopyTo(test);
        test[code.Length] = 0xE9; // jmp rel32 to the epilogue
        int rel = EpilogueOffset - (TestAreaOffset + code.Length + 5);
        MemoryMarshal.Write(test[(code.Length + 1)..], in rel);

        var inRegs = new Span<ulong>((void*)(_region + InRegs), 16);
        input.Gpr.CopyTo(inRegs);
        *(ulong*)(_region + InFlags) = input.Rflags;
        window.CopyTo(new Span<byte>((void*)(_region + WindowOffset), window.Length));

        ((delegate* unmanaged<void>)_region)();

        var output = new CpuState { Rflags = *(ulong*)(_region + OutFlags) };
        new Span<ulong>((void*)(_region + OutRegs), 16).CopyTo(output.Gpr);
        new Span<byte>((void*)(_region + WindowOffset), window.Length).CopyTo(window);
        return output;
    }

    public void Dispose() => NativeMethods.munmap(_region, RegionSize);
}
