using Iced.Intel;
using Vessel.Hypervisor;
using static Vessel.Hypervisor.ControlRegisters;

namespace Vessel.Cpu;

/// <summary>The control and debug registers as MOV CRn/DRn reach them: CR0/CR4 checks and their effects on the
/// TLB and the mode, CR3 loads, CR8 as the local APIC's task priority, DR4/DR5 aliasing.</summary>
internal sealed partial class SystemInstructions
{
    /// <summary>MOV CRn, r and MOV r, CRn (CPL 0 only).</summary>
    private void ExecuteMovControlRegister(ref Instruction ins)
    {
        RequireCpl0();
        if (IsControlRegister(ins.Op0Register)) WriteControlRegister(ins.Op0Register, _cpu.ReadGpr(ins.Op1Register));
        else _cpu.WriteGpr(ins.Op0Register, ReadControlRegister(ins.Op1Register));
    }

    /// <summary>MOV DRn, r and MOV r, DRn (CPL 0 only).</summary>
    private void ExecuteMovDebugRegister(ref Instruction ins)
    {
        RequireCpl0();
        ulong[] dr = _cpu.DebugRegisters;
        if (IsDebugRegister(ins.Op0Register)) dr[DebugIndex(ins.Op0Register)] = _cpu.ReadGpr(ins.Op1Register);
        else _cpu.WriteGpr(ins.Op0Register, dr[DebugIndex(ins.Op1Register)]);
    }

    private static bool IsControlRegister(Register r) => r is >= Register.CR0 and <= Register.CR15;

    private static bool IsDebugRegister(Register r) => r is >= Register.DR0 and <= Register.DR15;

    private int DebugIndex(Register r)
    {
        int n = r - Register.DR0;
        if (n is 4 or 5)
        {
            if ((S.Cr4 & Cr4De) != 0) _fault.Raise(Vector.UD, 0);
            n += 2; // DR4/DR5 alias DR6/DR7 without debug extensions
        }
        if (n > 7) _fault.Raise(Vector.UD, 0);
        return n;
    }

    private ulong ReadControlRegister(Register r) => r switch
    {
        Register.CR0 => S.Cr0,
        Register.CR2 => S.Cr2,
        Register.CR3 => S.Cr3,
        Register.CR4 => S.Cr4,
        Register.CR8 => ReadTaskPriority(),
        _ => FaultUd(),
    };

    private ulong FaultUd()
    {
        _fault.Raise(Vector.UD, 0);
        return 0;
    }

    private const ulong Cr4Supported = Cr4De | Cr4Tsd | Cr4Pse | Cr4Pae | Cr4Mce | Cr4Pge | Cr4Pce | Cr4Osfxsr
        | Cr4Osxmmexcpt | Cr4Umip | Cr4Fsgsbase | Cr4Osxsave | Cr4Smep | Cr4Smap;

    private void WriteControlRegister(Register r, ulong value)
    {
        ref CpuState s = ref S;
        switch (r)
        {
            case Register.CR0: WriteCr0(value); break;
            case Register.CR2: s.Cr2 = value; break;
            case Register.CR3:
                s.Cr3 = (s.Efer & EferLma) != 0 ? value & ~(1UL << 63) : value & 0xFFFF_FFFFUL;
                _cpu.FlushTlbForCr3Write();
                _cpu.EndBlock();
                break;
            case Register.CR4: WriteCr4(value); break;
            case Register.CR8:
                if ((value & ~0xFUL) != 0) _fault.Raise(Vector.GP, 0);
                WriteTaskPriority(value);
                break;
            default: _fault.Raise(Vector.UD, 0); break;
        }
    }

    private void WriteCr0(ulong value)
    {
        ref CpuState s = ref S;
        if (value >> 32 != 0) _fault.Raise(Vector.GP, 0);
        value |= Cr0Et;
        if ((value & Cr0Pg) != 0 && (value & Cr0Pe) == 0) _fault.Raise(Vector.GP, 0);
        if ((value & Cr0Nw) != 0 && (value & Cr0Cd) == 0) _fault.Raise(Vector.GP, 0);
        bool pagingOn = (value & Cr0Pg) != 0, wasOn = (s.Cr0 & Cr0Pg) != 0;
        if (pagingOn && !wasOn && (s.Efer & EferLme) != 0)
        {
            if ((s.Cr4 & Cr4Pae) == 0) _fault.Raise(Vector.GP, 0);
            s.Efer |= EferLma;
        }
        else if (!pagingOn && wasOn && (s.Efer & EferLma) != 0)
        {
            if (s.Bitness == 64) _fault.Raise(Vector.GP, 0); // only compatibility mode may leave long mode
            s.Efer &= ~EferLma;
        }
        ulong changed = s.Cr0 ^ value;
        s.Cr0 = value;
        if ((changed & (Cr0Pg | Cr0Wp | Cr0Pe)) != 0)
        {
            _cpu.FlushTlb();
            _cpu.UpdateMode();
        }
        _cpu.EndBlock();
    }

    private void WriteCr4(ulong value)
    {
        ref CpuState s = ref S;
        if ((value & ~Cr4Supported) != 0) _fault.Raise(Vector.GP, 0);
        if ((s.Efer & EferLma) != 0 && (value & Cr4Pae) == 0) _fault.Raise(Vector.GP, 0);
        ulong changed = s.Cr4 ^ value;
        s.Cr4 = value;
        if ((changed & (Cr4Pae | Cr4Pse | Cr4Pge | Cr4Smep | Cr4Smap)) != 0) _cpu.FlushTlb();
        _cpu.EndBlock();
    }

    /// <summary>CR8 is the local APIC's TPR (bits 7:4) once the platform attaches a LAPIC; kept here until then.</summary>
    private ulong ReadTaskPriority() => _cpu.LocalApic?.TaskPriorityClass ?? S.Cr8;

    private void WriteTaskPriority(ulong value)
    {
        S.Cr8 = value;
        if (_cpu.LocalApic is { } apic) apic.TaskPriorityClass = value;
    }
}
