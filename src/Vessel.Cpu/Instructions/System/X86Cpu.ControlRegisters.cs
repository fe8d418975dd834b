using Iced.Intel;
using Vessel.Hypervisor;
using static Vessel.Hypervisor.ControlRegisters;

namespace Vessel.Cpu;

/// <summary>The control and debug registers as MOV CRn/DRn reach them: CR0/CR4 checks and their effects on the
/// TLB and the mode, CR3 loads, CR8 as the local APIC's task priority, DR4/DR5 aliasing.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>MOV CRn, r and MOV r, CRn (CPL 0 only).</summary>
    private void ExecuteMovControlRegister(ref Instruction ins)
    {
        RequireCpl0();
        if (IsControlRegister(ins.Op0Register)) WriteControlRegister(ins.Op0Register, ReadGpr(ins.Op1Register));
        else WriteGprFull(ins.Op0Register, ReadControlRegister(ins.Op1Register));
    }

    /// <summary>MOV DRn, r and MOV r, DRn (CPL 0 only).</summary>
    private void ExecuteMovDebugRegister(ref Instruction ins)
    {
        RequireCpl0();
        if (IsDebugRegister(ins.Op0Register)) Dr[DebugIndex(ins.Op0Register)] = ReadGpr(ins.Op1Register);
        else WriteGprFull(ins.Op0Register, Dr[DebugIndex(ins.Op1Register)]);
    }

    private static bool IsControlRegister(Register r) => r is >= Register.CR0 and <= Register.CR15;

    private static bool IsDebugRegister(Register r) => r is >= Register.DR0 and <= Register.DR15;

    private int DebugIndex(Register r)
    {
        int n = r - Register.DR0;
        if (n is 4 or 5)
        {
            if ((Cr4 & Cr4De) != 0) FaultNoCode(Vector.UD);
            n += 2; // DR4/DR5 alias DR6/DR7 without debug extensions
        }
        if (n > 7) FaultNoCode(Vector.UD);
        return n;
    }

    /// <summary>MOV to a 32/64-bit GPR from a control or debug register: always the full operand width.</summary>
    private void WriteGprFull(Register r, ulong value) => WriteGpr(r, value);

    private ulong ReadControlRegister(Register r) => r switch
    {
        Register.CR0 => Cr0,
        Register.CR2 => Cr2,
        Register.CR3 => Cr3,
        Register.CR4 => Cr4,
        Register.CR8 => ReadTaskPriority(),
        _ => FaultUd(),
    };

    private ulong FaultUd()
    {
        FaultNoCode(Vector.UD);
        return 0;
    }

    private const ulong Cr4Supported = Cr4De | Cr4Tsd | Cr4Pse | Cr4Pae | Cr4Mce | Cr4Pge | Cr4Pce | Cr4Osfxsr
        | Cr4Osxmmexcpt | Cr4Umip | Cr4Fsgsbase | Cr4Osxsave | Cr4Smep | Cr4Smap;

    private void WriteControlRegister(Register r, ulong value)
    {
        switch (r)
        {
            case Register.CR0: WriteCr0(value); break;
            case Register.CR2: Cr2 = value; break;
            case Register.CR3:
                Cr3 = (Efer & EferLma) != 0 ? value & ~(1UL << 63) : value & 0xFFFF_FFFFUL;
                FlushTlbForCr3Write();
                _endBlock = true;
                break;
            case Register.CR4: WriteCr4(value); break;
            case Register.CR8:
                if ((value & ~0xFUL) != 0) Fault(Vector.GP, 0);
                WriteTaskPriority(value);
                break;
            default: FaultNoCode(Vector.UD); break;
        }
    }

    private void WriteCr0(ulong value)
    {
        if (value >> 32 != 0) Fault(Vector.GP, 0);
        value |= Cr0Et;
        if ((value & Cr0Pg) != 0 && (value & Cr0Pe) == 0) Fault(Vector.GP, 0);
        if ((value & Cr0Nw) != 0 && (value & Cr0Cd) == 0) Fault(Vector.GP, 0);
        bool pagingOn = (value & Cr0Pg) != 0, wasOn = (Cr0 & Cr0Pg) != 0;
        if (pagingOn && !wasOn && (Efer & EferLme) != 0)
        {
            if ((Cr4 & Cr4Pae) == 0) Fault(Vector.GP, 0);
            Efer |= EferLma;
        }
        else if (!pagingOn && wasOn && (Efer & EferLma) != 0)
        {
            if (Bitness == 64) Fault(Vector.GP, 0); // only compatibility mode may leave long mode
            Efer &= ~EferLma;
        }
        ulong changed = Cr0 ^ value;
        Cr0 = value;
        if ((changed & (Cr0Pg | Cr0Wp | Cr0Pe)) != 0)
        {
            FlushTlb();
            UpdateMode();
        }
        _endBlock = true;
    }

    private void WriteCr4(ulong value)
    {
        if ((value & ~Cr4Supported) != 0) Fault(Vector.GP, 0);
        if ((Efer & EferLma) != 0 && (value & Cr4Pae) == 0) Fault(Vector.GP, 0);
        ulong changed = Cr4 ^ value;
        Cr4 = value;
        if ((changed & (Cr4Pae | Cr4Pse | Cr4Pge | Cr4Smep | Cr4Smap)) != 0) FlushTlb();
        _endBlock = true;
    }

    /// <summary>CR8 is the local APIC's TPR (bits 7:4) once the platform attaches a LAPIC; kept here until then.</summary>
    private ulong ReadTaskPriority() => LocalApic?.TaskPriorityClass ?? Cr8;

    private void WriteTaskPriority(ulong value)
    {
        Cr8 = value;
        if (LocalApic is { } apic) apic.TaskPriorityClass = value;
    }
}
