using Iced.Intel;
using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>System instructions: control and debug registers, GDTR/IDTR, MSRs, CPUID, TSC, SYSCALL/SYSENTER.
/// Segment-related system instructions (far transfers, INT/IRET, LLDT/LTR, LAR/LSL) live in
/// <see cref="ExecuteSegmentSystem"/>.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>Executes a system-level instruction; false if <paramref name="ins"/> is not one.</summary>
    private bool ExecuteSystem(ref Instruction ins) => ExecuteSegmentSystem(ref ins) || ExecuteControlSystem(ref ins);

    /// <summary>MOV CR/DR, LGDT/LIDT/SGDT/SIDT, CLTS, INVLPG, RDMSR/WRMSR, CPUID, RDTSC(P), SWAPGS, SYSCALL/SYSRET,
    /// SYSENTER/SYSEXIT, WBINVD/INVD, LMSW/SMSW; false if <paramref name="ins"/> is none of them.</summary>
    private bool ExecuteControlSystem(ref Instruction ins)
    {
        switch (ins.Code)
        {
            case Code.Cpuid: ExecuteCpuid(); return true;
            case Code.Rdtsc:
            case Code.Rdtscp:
            {
                if ((Cr4 & ControlRegisters.Cr4Tsd) != 0 && Cpl > 0) Fault(Vector.GP, 0);
                ulong tsc = ReadTsc();
                Gpr[0] = (uint)tsc;
                Gpr[2] = tsc >> 32;
                if (ins.Code == Code.Rdtscp) Gpr[1] = (uint)TscAux;
                return true;
            }
            case Code.Rdpid_r32: case Code.Rdpid_r64:
                Gpr[RegisterTable.GprIndex[(int)ins.Op0Register]] = TscAux;
                return true;
            case Code.Rdmsr:
            {
                RequireCpl0();
                if (!TryReadMsr((uint)Gpr[1], out ulong v)) Fault(Vector.GP, 0);
                Gpr[0] = (uint)v;
                Gpr[2] = v >> 32;
                return true;
            }
            case Code.Wrmsr:
                RequireCpl0();
                if (!TryWriteMsr((uint)Gpr[1], ((Gpr[2] & 0xFFFF_FFFF) << 32) | (Gpr[0] & 0xFFFF_FFFF))) Fault(Vector.GP, 0);
                _endBlock = true;
                return true;
            case Code.Clts:
                RequireCpl0();
                Cr0 &= ~ControlRegisters.Cr0Ts;
                return true;
            case Code.Invd: case Code.Wbinvd:
                RequireCpl0();
                return true;
            case Code.Invlpg_m:
            {
                RequireCpl0();
                ulong ea = EffectiveAddress(ref ins);
                int seg = SegmentIndex(ins.MemorySegment);
                ulong linear = Bitness == 64 ? (seg >= FS ? Seg[seg].Base : 0) + ea : (Seg[seg].Base + ea) & 0xFFFF_FFFF;
                FlushTlbPage(linear);
                _endBlock = true;
                return true;
            }
            case Code.Lgdt_m1632_16: case Code.Lgdt_m1632: case Code.Lgdt_m1664:
            case Code.Lidt_m1632_16: case Code.Lidt_m1632: case Code.Lidt_m1664:
                LoadDescriptorTableRegister(ref ins);
                return true;
            case Code.Sgdt_m1632_16: case Code.Sgdt_m1632: case Code.Sgdt_m1664:
            case Code.Sidt_m1632_16: case Code.Sidt_m1632: case Code.Sidt_m1664:
                StoreDescriptorTableRegister(ref ins);
                return true;
            case Code.Lmsw_rm16: case Code.Lmsw_r32m16: case Code.Lmsw_r64m16:
            {
                RequireCpl0();
                ulong msw = ReadOperand(ref ins, 0, 2) & 0xF;
                // LMSW sets PE but never clears it.
                WriteCr0((Cr0 & ~0xEUL) | msw | (Cr0 & ControlRegisters.Cr0Pe));
                return true;
            }
            case Code.Smsw_rm16: case Code.Smsw_r32m16: case Code.Smsw_r64m16:
                if (ins.Op0Kind == OpKind.Register) WriteGpr(ins.Op0Register, Cr0);
                else WriteMemoryOperand(ref ins, 2, Cr0 & 0xFFFF);
                return true;
            case Code.Swapgs:
            {
                if (Bitness != 64) FaultNoCode(Vector.UD);
                RequireCpl0();
                (Seg[GS].Base, KernelGsBase) = (KernelGsBase, Seg[GS].Base);
                return true;
            }
            case Code.Rdfsbase_r32: case Code.Rdfsbase_r64: case Code.Rdgsbase_r32: case Code.Rdgsbase_r64:
                RequireFsGsBase();
                WriteGpr(ins.Op0Register, Seg[ins.Code is Code.Rdfsbase_r32 or Code.Rdfsbase_r64 ? FS : GS].Base);
                return true;
            case Code.Wrfsbase_r32: case Code.Wrfsbase_r64: case Code.Wrgsbase_r32: case Code.Wrgsbase_r64:
            {
                RequireFsGsBase();
                ulong b = ReadGpr(ins.Op0Register);
                if (!IsCanonical(b)) Fault(Vector.GP, 0);
                Seg[ins.Code is Code.Wrfsbase_r32 or Code.Wrfsbase_r64 ? FS : GS].Base = b;
                return true;
            }
            case Code.Syscall: ExecuteSyscall(); return true;
            case Code.Sysretd: case Code.Sysretq: ExecuteSysret(ins.Code == Code.Sysretq); return true;
            case Code.Sysenter: ExecuteSysenter(); return true;
            case Code.Sysexitd: case Code.Sysexitq: ExecuteSysexit(ins.Code == Code.Sysexitq); return true;
        }
        if (ins.Mnemonic == Mnemonic.Mov) return ExecuteMovControlOrDebug(ref ins);
        return false;
    }

    private void RequireCpl0()
    {
        if (Cpl != 0) Fault(Vector.GP, 0);
    }

    private void RequireFsGsBase()
    {
        if (Bitness != 64 || (Cr4 & ControlRegisters.Cr4Fsgsbase) == 0) FaultNoCode(Vector.UD);
    }

    private bool ExecuteMovControlOrDebug(ref Instruction ins)
    {
        if (ins.Op0Kind != OpKind.Register || ins.Op1Kind != OpKind.Register) return false;
        Register dst = ins.Op0Register, src = ins.Op1Register;
        if (src.IsCR() || src.IsDR())
        {
            RequireCpl0();
            ulong v = src.IsCR() ? ReadControlRegister(src - Register.CR0) : ReadDebugRegister(src - Register.DR0);
            WriteGpr(dst, v);
            return true;
        }
        if (dst.IsCR() || dst.IsDR())
        {
            RequireCpl0();
            ulong v = ReadGpr(src);
            if (dst.IsCR()) WriteControlRegister(dst - Register.CR0, v);
            else WriteDebugRegister(dst - Register.DR0, v);
            _endBlock = true;
            return true;
        }
        return false;
    }

    /// <summary>LGDT/LIDT: a 16-bit limit then a 24-bit (16-bit operand size), 32-bit or 64-bit base.</summary>
    private void LoadDescriptorTableRegister(ref Instruction ins)
    {
        RequireCpl0();
        int seg = SegmentIndex(ins.MemorySegment);
        ulong ea = EffectiveAddress(ref ins);
        ushort limit = (ushort)ReadVirtual(seg, ea, 2);
        ulong tableBase = Bitness == 64 ? ReadVirtual(seg, ea + 2, 8) : ReadVirtual(seg, ea + 2, 4);
        if (Bitness == 64 && !IsCanonical(tableBase)) Fault(Vector.GP, 0);
        if (ins.Code is Code.Lgdt_m1632_16 or Code.Lidt_m1632_16) tableBase &= 0xFF_FFFF;
        var table = new DescriptorTable { Base = tableBase, Limit = limit };
        if (ins.Mnemonic == Mnemonic.Lgdt) Gdtr = table; else Idtr = table;
    }

    private void StoreDescriptorTableRegister(ref Instruction ins)
    {
        DescriptorTable t = ins.Mnemonic == Mnemonic.Sgdt ? Gdtr : Idtr;
        int seg = SegmentIndex(ins.MemorySegment);
        ulong ea = EffectiveAddress(ref ins);
        int baseSize = Bitness == 64 ? 8 : 4;
        // Check both parts are writable before storing either.
        SegmentedLinear(seg, ea, 2 + baseSize, AccessKind.Write);
        WriteVirtual(seg, ea, 2, t.Limit);
        WriteVirtual(seg, ea + 2, baseSize, baseSize == 8 ? t.Base : t.Base & 0xFFFF_FFFF);
    }
}
