using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Native;

/// <summary>RET near: the return address popped through the read TLB, checked canonical, stored as RIP.</summary>
internal sealed partial class NativeTranslator
{
    private void EmitReturn(int index)
    {
        _a.mov(r9, GprQ(4));
        Label miss = EmitProbe(NativeLayout.ReadTlb, 8, index);
        if (_flagKeepingProbe)
        {
            _a.mov(rax, __qword_ptr[rdx]);
            EmitCanonicalCheckKeepingFlags(miss);
        }
        else
        {
            // The check clobbers the host's flags (the probe saved them); the save clobbers RAX.
            EmitSaveFlags();
            _a.mov(rax, __qword_ptr[rdx]);
            Label notCanonical = OutOfLine(() =>
            {
                EmitFlagsFromR10();
                EmitExit(index);
            });
            _a.mov(rcx, rax);
            _a.shl(rcx, 16);
            _a.sar(rcx, 16);
            _a.cmp(rcx, rax);
            _a.jne(notCanonical);
        }
        _a.lea(r9, __[r9 + 8]);
        _a.mov(GprQ(4), r9);
        _a.mov(StateQ(CpuStateLayout.Rip), rax);
        EmitRestoreFlags();
        CountInstruction();
        EmitExit(BlockDone);
    }

    /// <summary>Leaves by <paramref name="notCanonical"/> (the interpreter's #GP) unless RAX is canonical: RAX against
    /// its low 48 bits sign-extended (SHLX/SARX), compared as RAX + NOT that + 1 with JRCXZ, so the flags stay.</summary>
    private void EmitCanonicalCheckKeepingFlags(Label notCanonical)
    {
        Label canonical = _a.CreateLabel();
        _a.mov(r8d, 16);
        _a.shlx(rcx, rax, r8);
        _a.sarx(rcx, rcx, r8);
        _a.not(rcx);
        _a.lea(rcx, __[rax + rcx + 1]);
        _a.jrcxz(canonical);
        _a.jmp(notCanonical);
        _a.Label(ref canonical);
    }
}
