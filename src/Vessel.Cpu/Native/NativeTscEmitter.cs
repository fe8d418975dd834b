using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Native;

/// <summary>RDTSC and RDTSCP in translated code: a call of the host's clock_gettime (CLOCK_MONOTONIC, the clock
/// Stopwatch and so the interpreter read) plus <see cref="NativeContext.TscBias"/>, EDX:EAX zero-extended, and for
/// RDTSCP ECX from <see cref="NativeContext.TscAux"/>. With CR4.TSD set the instruction goes to the interpreter
/// (#GP above CPL 0). The call keeps RDI, RSI, R10 (the guest's flags) and R11 on the host stack and aligns it as the
/// SysV ABI asks: translated code is entered by a call, so RSP is 8 past a multiple of 16 throughout.</summary>
internal sealed class NativeTscEmitter(NativeTranslator t)
{
    private readonly Assembler _a = t.Asm;

    public bool TryEmit(int index, bool withAux)
    {
        if (NativeSystemCalls.ClockGettime == 0) return false;
        t.SaveFlags();
        _a.test(__dword_ptr[rdi + CpuStateLayout.Cr4], (int)Hypervisor.ControlRegisters.Cr4Tsd);
        _a.jnz(t.ExitWithSavedFlags(index));
        _a.push(rdi);
        _a.push(rsi);
        _a.push(r10);
        _a.push(r11);
        _a.sub(rsp, 24); // the timespec, and RSP a multiple of 16 at the call
        _a.mov(edi, NativeSystemCalls.ClockMonotonic);
        _a.mov(rsi, rsp);
        _a.mov(rax, (ulong)NativeSystemCalls.ClockGettime);
        _a.call(rax);
        _a.imul(rax, __qword_ptr[rsp], 1_000_000_000);
        _a.add(rax, __qword_ptr[rsp + 8]);
        _a.add(rsp, 24);
        _a.pop(r11);
        _a.pop(r10);
        _a.pop(rsi);
        _a.pop(rdi);
        _a.add(rax, __qword_ptr[rsi + NativeLayout.TscBias]);
        _a.mov(rdx, rax);
        _a.shr(rdx, 32);
        _a.mov(eax, eax);
        _a.mov(NativeTranslator.StateQ(CpuStateLayout.GprAt(0)), rax);
        _a.mov(NativeTranslator.StateQ(CpuStateLayout.GprAt(2)), rdx);
        if (withAux)
        {
            _a.mov(eax, __dword_ptr[rsi + NativeLayout.TscAux]);
            _a.mov(NativeTranslator.StateQ(CpuStateLayout.GprAt(1)), rax);
        }
        t.RestoreFlags();
        t.Count();
        return true;
    }
}
