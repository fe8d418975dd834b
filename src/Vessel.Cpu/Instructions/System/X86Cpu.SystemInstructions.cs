using Iced.Intel;
using Vessel.Hypervisor;
using static Vessel.Hypervisor.ControlRegisters;

namespace Vessel.Cpu;

/// <summary>System instructions: control and debug registers, GDTR/IDTR, MSRs, CPUID, TSC, SWAPGS, FS/GS base,
/// SMAP's STAC/CLAC and cache control. Segment-related system instructions (far transfers, INT/IRET,
/// LLDT/LTR, LAR/LSL) live in <see cref="ExecuteSegmentSystem"/>; SYSCALL/SYSENTER in X86Cpu.FastSystemCalls.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>Executes a system-level instruction; false if <paramref name="ins"/> is not one.</summary>
    private bool ExecuteSystem(ref Instruction ins) => ExecuteSegmentSystem(ref ins) || ExecuteControlSystem(ref ins);

    private bool ExecuteControlSystem(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Mov when ins.Op0Kind == OpKind.Register && IsControlRegister(ins.Op0Register):
            case Mnemonic.Mov when ins.Op1Kind == OpKind.Register && IsControlRegister(ins.Op1Register):
                ExecuteMovControlRegister(ref ins);
                return true;
            case Mnemonic.Mov when ins.Op0Kind == OpKind.Register && IsDebugRegister(ins.Op0Register):
            case Mnemonic.Mov when ins.Op1Kind == OpKind.Register && IsDebugRegister(ins.Op1Register):
                ExecuteMovDebugRegister(ref ins);
                return true;
            case Mnemonic.Lgdt: case Mnemonic.Lidt:
                RequireCpl0();
                LoadDescriptorTable(ref ins);
                return true;
            case Mnemonic.Sgdt: case Mnemonic.Sidt:
                RequireUmipAllowed();
                StoreDescriptorTable(ref ins);
                return true;
            case Mnemonic.Smsw: ExecuteSmsw(ref ins); return true;
            case Mnemonic.Lmsw: ExecuteLmsw(ref ins); return true;
            case Mnemonic.Clts:
                RequireCpl0();
                Cr0 &= ~Cr0Ts;
                return true;
            case Mnemonic.Invlpg:
                RequireCpl0();
                FlushTlbPage(SegmentedLinearNoCheck(ref ins));
                _endBlock = true;
                return true;
            case Mnemonic.Wbinvd: case Mnemonic.Invd:
                RequireCpl0();
                return true;
            case Mnemonic.Rdmsr: ExecuteRdmsr(); return true;
            case Mnemonic.Wrmsr: ExecuteWrmsr(); return true;
            case Mnemonic.Cpuid: ExecuteCpuid(); return true;
            case Mnemonic.Rdtsc: ExecuteRdtsc(withAux: false); return true;
            case Mnemonic.Rdtscp: ExecuteRdtsc(withAux: true); return true;
            case Mnemonic.Rdpid: WriteGprFull(ins.Op0Register, Msrs.TscAux); return true;
            case Mnemonic.Swapgs: ExecuteSwapgs(); return true;
            case Mnemonic.Rdfsbase: case Mnemonic.Rdgsbase: case Mnemonic.Wrfsbase: case Mnemonic.Wrgsbase:
                ExecuteFsGsBase(ref ins);
                return true;
            case Mnemonic.Stac: case Mnemonic.Clac:
                RequireCpl0();
                if (ins.Mnemonic == Mnemonic.Stac) _rflags |= Vessel.Hypervisor.RflagsBits.Ac;
                else _rflags &= ~Vessel.Hypervisor.RflagsBits.Ac;
                return true;
            default:
                return _fastCalls.Execute(ref ins);
        }
    }

    private void ExecuteSmsw(ref Instruction ins)
    {
        RequireUmipAllowed();
        if (ins.Op0Kind == OpKind.Register) WriteGpr(ins.Op0Register, Cr0 & SizeMask(OperandSize(ref ins, 0)));
        else WriteMemoryOperand(ref ins, 2, Cr0 & 0xFFFF);
    }

    private void ExecuteLmsw(ref Instruction ins)
    {
        RequireCpl0();
        ulong value = ReadOperand(ref ins, 0, 2);
        // LMSW sets PE (never clears it) and writes MP, EM, TS.
        WriteControlRegister(Register.CR0, (Cr0 & ~0xEUL) | (value & 0xF) | (Cr0 & Cr0Pe));
    }

    private void ExecuteRdmsr()
    {
        RequireCpl0();
        if (!TryReadMsr((uint)Gpr[1], out ulong value)) Fault(Vector.GP, 0);
        Gpr[0] = (uint)value;
        Gpr[2] = value >> 32;
    }

    private void ExecuteWrmsr()
    {
        RequireCpl0();
        if (!TryWriteMsr((uint)Gpr[1], (Gpr[2] << 32) | (uint)Gpr[0])) Fault(Vector.GP, 0);
        _endBlock = true;
    }

    private void ExecuteCpuid()
    {
        var inputs = new CpuidInputs(VcpuId, (Cr4 & Cr4Osxsave) != 0, (ApicBase & ApicBaseEnable) != 0);
        CpuidModel.Query(inputs, (uint)Gpr[0], (uint)Gpr[1], out uint eax, out uint ebx, out uint ecx, out uint edx);
        Gpr[0] = eax; Gpr[3] = ebx; Gpr[1] = ecx; Gpr[2] = edx;
    }

    /// <summary>RDTSC, and RDTSCP (<paramref name="withAux"/>) which also loads ECX with IA32_TSC_AUX.</summary>
    private void ExecuteRdtsc(bool withAux)
    {
        if ((Cr4 & Cr4Tsd) != 0 && Cpl != 0) Fault(Vector.GP, 0);
        ulong tsc = ReadTsc();
        Gpr[0] = (uint)tsc;
        Gpr[2] = tsc >> 32;
        if (withAux) Gpr[1] = (uint)Msrs.TscAux;
    }

    private void ExecuteSwapgs()
    {
        if (Bitness != 64) FaultNoCode(Vector.UD);
        RequireCpl0();
        (Seg[GS].Base, Msrs.KernelGsBase) = (Msrs.KernelGsBase, Seg[GS].Base);
    }

    private void RequireCpl0()
    {
        if (Cpl != 0) Fault(Vector.GP, 0);
    }

    private void RequireUmipAllowed()
    {
        if ((Cr4 & Cr4Umip) != 0 && Cpl != 0) Fault(Vector.GP, 0);
    }

    /// <summary>The linear address of a memory operand without segment checks (INVLPG never faults on it).</summary>
    private ulong SegmentedLinearNoCheck(ref Instruction ins)
    {
        ulong offset = EffectiveAddress(ref ins);
        int seg = SegmentIndex(ins.MemorySegment);
        if (Bitness == 64) return seg >= FS ? Seg[seg].Base + offset : offset;
        return (Seg[seg].Base + offset) & 0xFFFF_FFFF;
    }

    private void LoadDescriptorTable(ref Instruction ins)
    {
        int seg = SegmentIndex(ins.MemorySegment);
        ulong offset = EffectiveAddress(ref ins);
        ulong limit = ReadVirtual(seg, offset, 2);
        ulong baseAddress;
        if (Bitness == 64)
        {
            baseAddress = ReadVirtual(seg, offset + 2, 8);
            if (!LinearAddress.IsCanonical(baseAddress)) Fault(Vector.GP, 0);
        }
        else
        {
            baseAddress = ReadVirtual(seg, offset + 2, 4);
            if (ins.CodeSize != CodeSize.Code64 && OperandSizeIs16(ref ins)) baseAddress &= 0xFF_FFFF;
        }
        var table = new DescriptorTable { Base = baseAddress, Limit = (ushort)limit };
        if (ins.Mnemonic == Mnemonic.Lgdt) Gdtr = table; else Idtr = table;
    }

    private void StoreDescriptorTable(ref Instruction ins)
    {
        DescriptorTable table = ins.Mnemonic == Mnemonic.Sgdt ? Gdtr : Idtr;
        int seg = SegmentIndex(ins.MemorySegment);
        ulong offset = EffectiveAddress(ref ins);
        WriteVirtual(seg, offset, 2, table.Limit);
        if (Bitness == 64) WriteVirtual(seg, offset + 2, 8, table.Base);
        else WriteVirtual(seg, offset + 2, 4, table.Base & 0xFFFF_FFFF);
    }

    /// <summary>Whether a LGDT/LIDT has a 16-bit operand size (then only 24 bits of the base are loaded).</summary>
    private bool OperandSizeIs16(ref Instruction ins) =>
        ins.Code is Code.Lgdt_m1632_16 or Code.Lidt_m1632_16;

    private void ExecuteFsGsBase(ref Instruction ins)
    {
        if (Bitness != 64 || (Cr4 & Cr4Fsgsbase) == 0) FaultNoCode(Vector.UD);
        int seg = ins.Mnemonic is Mnemonic.Rdfsbase or Mnemonic.Wrfsbase ? FS : GS;
        Register r = ins.Op0Register;
        if (ins.Mnemonic is Mnemonic.Rdfsbase or Mnemonic.Rdgsbase)
        {
            WriteGpr(r, Seg[seg].Base);
            return;
        }
        ulong value = ReadGpr(r);
        if (!LinearAddress.IsCanonical(value)) Fault(Vector.GP, 0);
        Seg[seg].Base = value;
    }
}
