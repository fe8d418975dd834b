using Iced.Intel;
using Vessel.Hypervisor;
using static Vessel.Hypervisor.ControlRegisters;
using static Vessel.Cpu.X86Cpu;
using RflagsBits = Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>System instructions: control and debug registers, GDTR/IDTR, MSRs, CPUID, TSC, SWAPGS, FS/GS base,
/// SMAP's STAC/CLAC and cache control, and the fast system calls (<see cref="FastSystemCalls"/>). The
/// segment-related ones (far transfers, INT/IRET, LLDT/LTR, LAR/LSL) are <see cref="SegmentInstructions"/>.</summary>
internal sealed partial class SystemInstructions
{
    private readonly ISystemInstructionCpu _cpu;
    private readonly CpuFault _fault;
    private readonly MsrRouter _msrRouter;
    private readonly MsrFile _msrs;
    private readonly FastSystemCalls _fastCalls;

    public SystemInstructions(ISystemInstructionCpu cpu, CpuFault fault, MsrRouter msrRouter, MsrFile msrs, FastSystemCalls fastCalls)
    {
        _cpu = cpu;
        _fault = fault;
        _msrRouter = msrRouter;
        _msrs = msrs;
        _fastCalls = fastCalls;
    }

    private ref CpuState S => ref _cpu.State;

    /// <summary>Executes a system instruction of this family; false if <paramref name="ins"/> is not one.</summary>
    public bool Execute(ref Instruction ins)
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
                S.Cr0 &= ~Cr0Ts;
                return true;
            case Mnemonic.Invlpg:
                RequireCpl0();
                _cpu.FlushTlbPage(SegmentedLinearNoCheck(ref ins));
                _cpu.EndBlock();
                return true;
            case Mnemonic.Wbinvd: case Mnemonic.Invd:
                RequireCpl0();
                return true;
            case Mnemonic.Rdmsr: ExecuteRdmsr(); return true;
            case Mnemonic.Wrmsr: ExecuteWrmsr(); return true;
            case Mnemonic.Cpuid: ExecuteCpuid(); return true;
            case Mnemonic.Rdtsc: ExecuteRdtsc(withAux: false); return true;
            case Mnemonic.Rdtscp: ExecuteRdtsc(withAux: true); return true;
            case Mnemonic.Rdpid: _cpu.WriteGpr(ins.Op0Register, _msrs.TscAux); return true;
            case Mnemonic.Swapgs: ExecuteSwapgs(); return true;
            case Mnemonic.Rdfsbase: case Mnemonic.Rdgsbase: case Mnemonic.Wrfsbase: case Mnemonic.Wrgsbase:
                ExecuteFsGsBase(ref ins);
                return true;
            case Mnemonic.Stac: case Mnemonic.Clac:
                RequireCpl0();
                if (ins.Mnemonic == Mnemonic.Stac) S.Rflags |= RflagsBits.Ac;
                else
                {
                    S.Rflags &= ~RflagsBits.Ac;
                    _cpu.DropAcTranslations();
                }
                return true;
            default:
                return _fastCalls.Execute(ref ins);
        }
    }

    private void ExecuteSmsw(ref Instruction ins)
    {
        RequireUmipAllowed();
        if (ins.Op0Kind == OpKind.Register) _cpu.WriteGpr(ins.Op0Register, S.Cr0 & SizeMask(OperandSize(ref ins, 0)));
        else _cpu.WriteMemoryOperand(ref ins, 2, S.Cr0 & 0xFFFF);
    }

    private void ExecuteLmsw(ref Instruction ins)
    {
        RequireCpl0();
        ulong value = _cpu.ReadOperand(ref ins, 0, 2);
        ulong cr0 = S.Cr0;
        // LMSW sets PE (never clears it) and writes MP, EM, TS.
        WriteControlRegister(Register.CR0, (cr0 & ~0xEUL) | (value & 0xF) | (cr0 & Cr0Pe));
    }

    private void ExecuteRdmsr()
    {
        RequireCpl0();
        ref CpuState s = ref S;
        if (!_msrRouter.TryRead((uint)s.Gpr[1], out ulong value)) _fault.Raise(Vector.GP, 0);
        s.Gpr[0] = (uint)value;
        s.Gpr[2] = value >> 32;
    }

    private void ExecuteWrmsr()
    {
        RequireCpl0();
        ref CpuState s = ref S;
        if (!_msrRouter.TryWrite((uint)s.Gpr[1], (s.Gpr[2] << 32) | (uint)s.Gpr[0])) _fault.Raise(Vector.GP, 0);
        _cpu.EndBlock();
    }

    private void ExecuteCpuid()
    {
        ref CpuState s = ref S;
        var inputs = new CpuidInputs(_cpu.VcpuId, (s.Cr4 & Cr4Osxsave) != 0, (_cpu.ApicBase & MsrRouter.ApicBaseEnable) != 0);
        CpuidModel.Query(inputs, (uint)s.Gpr[0], (uint)s.Gpr[1], out uint eax, out uint ebx, out uint ecx, out uint edx);
        s.Gpr[0] = eax; s.Gpr[3] = ebx; s.Gpr[1] = ecx; s.Gpr[2] = edx;
    }

    /// <summary>RDTSC, and RDTSCP (<paramref name="withAux"/>) which also loads ECX with IA32_TSC_AUX.</summary>
    private void ExecuteRdtsc(bool withAux)
    {
        ref CpuState s = ref S;
        if ((s.Cr4 & Cr4Tsd) != 0 && s.Cpl != 0) _fault.Raise(Vector.GP, 0);
        ulong tsc = _msrs.ReadTsc();
        s.Gpr[0] = (uint)tsc;
        s.Gpr[2] = tsc >> 32;
        if (withAux) s.Gpr[1] = (uint)_msrs.TscAux;
    }

    private void ExecuteSwapgs()
    {
        ref CpuState s = ref S;
        if (s.Bitness != 64) _fault.Raise(Vector.UD, 0);
        RequireCpl0();
        (s.Seg[GS].Base, s.KernelGsBase) = (s.KernelGsBase, s.Seg[GS].Base);
    }

    private void RequireCpl0()
    {
        if (S.Cpl != 0) _fault.Raise(Vector.GP, 0);
    }

    private void RequireUmipAllowed()
    {
        if ((S.Cr4 & Cr4Umip) != 0 && S.Cpl != 0) _fault.Raise(Vector.GP, 0);
    }

    /// <summary>The linear address of a memory operand without segment checks (INVLPG never faults on it).</summary>
    private ulong SegmentedLinearNoCheck(ref Instruction ins)
    {
        ref CpuState s = ref S;
        ulong offset = _cpu.EffectiveAddress(ref ins);
        int seg = SegmentIndex(ins.MemorySegment);
        if (s.Bitness == 64) return seg >= FS ? s.Seg[seg].Base + offset : offset;
        return (s.Seg[seg].Base + offset) & 0xFFFF_FFFF;
    }

    private void LoadDescriptorTable(ref Instruction ins)
    {
        int seg = SegmentIndex(ins.MemorySegment);
        ulong offset = _cpu.EffectiveAddress(ref ins);
        ulong limit = _cpu.ReadVirtual(seg, offset, 2);
        ulong baseAddress;
        if (S.Bitness == 64)
        {
            baseAddress = _cpu.ReadVirtual(seg, offset + 2, 8);
            if (!LinearAddress.IsCanonical(baseAddress)) _fault.Raise(Vector.GP, 0);
        }
        else
        {
            baseAddress = _cpu.ReadVirtual(seg, offset + 2, 4);
            if (ins.CodeSize != CodeSize.Code64 && OperandSizeIs16(ref ins)) baseAddress &= 0xFF_FFFF;
        }
        var table = new DescriptorTable { Base = baseAddress, Limit = (ushort)limit };
        if (ins.Mnemonic == Mnemonic.Lgdt) S.Gdtr = table; else S.Idtr = table;
    }

    private void StoreDescriptorTable(ref Instruction ins)
    {
        DescriptorTable table = ins.Mnemonic == Mnemonic.Sgdt ? S.Gdtr : S.Idtr;
        int seg = SegmentIndex(ins.MemorySegment);
        ulong offset = _cpu.EffectiveAddress(ref ins);
        _cpu.WriteVirtual(seg, offset, 2, table.Limit);
        if (S.Bitness == 64) _cpu.WriteVirtual(seg, offset + 2, 8, table.Base);
        else _cpu.WriteVirtual(seg, offset + 2, 4, table.Base & 0xFFFF_FFFF);
    }

    /// <summary>Whether a LGDT/LIDT has a 16-bit operand size (then only 24 bits of the base are loaded).</summary>
    private static bool OperandSizeIs16(ref Instruction ins) =>
        ins.Code is Code.Lgdt_m1632_16 or Code.Lidt_m1632_16;

    private void ExecuteFsGsBase(ref Instruction ins)
    {
        ref CpuState s = ref S;
        if (s.Bitness != 64 || (s.Cr4 & Cr4Fsgsbase) == 0) _fault.Raise(Vector.UD, 0);
        int seg = ins.Mnemonic is Mnemonic.Rdfsbase or Mnemonic.Wrfsbase ? FS : GS;
        Register r = ins.Op0Register;
        if (ins.Mnemonic is Mnemonic.Rdfsbase or Mnemonic.Rdgsbase)
        {
            _cpu.WriteGpr(r, s.Seg[seg].Base);
            return;
        }
        ulong value = _cpu.ReadGpr(r);
        if (!LinearAddress.IsCanonical(value)) _fault.Raise(Vector.GP, 0);
        s.Seg[seg].Base = value;
    }
}
