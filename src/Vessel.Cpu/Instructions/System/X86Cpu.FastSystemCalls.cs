using Vessel.Hypervisor;
using static Vessel.Hypervisor.ControlRegisters;

namespace Vessel.Cpu;

/// <summary>SYSCALL/SYSRET and SYSENTER/SYSEXIT: privilege changes with fixed, flat segments taken from MSRs
/// rather than from descriptors.</summary>
internal sealed partial class X86Cpu
{
    private void LoadFlatCode(ushort selector, int dpl, bool longMode)
    {
        Seg[CS] = new Segment
        {
            Selector = selector, Base = 0, Limit = 0xFFFF_FFFF, Type = 0xB, Present = true, Dpl = (byte)dpl,
            CodeOrData = true, Long = longMode, DefaultBig = !longMode, Granularity = true,
        };
    }

    private void LoadFlatStack(ushort selector, int dpl)
    {
        Seg[SS] = new Segment
        {
            Selector = selector, Base = 0, Limit = 0xFFFF_FFFF, Type = 0x3, Present = true, Dpl = (byte)dpl,
            CodeOrData = true, DefaultBig = true, Granularity = true,
        };
    }

    private void ExecuteSyscall()
    {
        if ((Efer & EferSce) == 0 || (Efer & EferLma) == 0) FaultNoCode(Vector.UD); // legacy SYSCALL is AMD-only
        ushort selector = (ushort)(Msrs.Star >> 32);
        Gpr[1] = Rip;
        Gpr[11] = GetRflags();
        ulong target = Bitness == 64 ? Msrs.Lstar : Msrs.Cstar;
        LoadFlatCode((ushort)(selector & 0xFFFC), 0, longMode: true);
        LoadFlatStack((ushort)((selector + 8) & 0xFFFC), 0);
        SetRflags(GetRflags() & ~Msrs.Sfmask & ~RflagsBits.Rf);
        UpdateMode();
        Rip = target;
    }

    private void ExecuteSysret(ref Iced.Intel.Instruction ins)
    {
        if ((Efer & EferSce) == 0) FaultNoCode(Vector.UD);
        if (Bitness != 64 || Cpl != 0) Fault(Vector.GP, 0);
        bool to64 = ins.Mnemonic == Iced.Intel.Mnemonic.Sysretq;
        ushort selector = (ushort)(Msrs.Star >> 48);
        ulong target = to64 ? Gpr[1] : (uint)Gpr[1];
        if (to64 && !LinearAddress.IsCanonical(target)) Fault(Vector.GP, 0);
        if (to64) LoadFlatCode((ushort)((selector + 16) | 3), 3, longMode: true);
        else LoadFlatCode((ushort)(selector | 3), 3, longMode: false);
        LoadFlatStack((ushort)((selector + 8) | 3), 3);
        SetRflags((Gpr[11] & ~(RflagsBits.Rf | RflagsBits.Vm)) | RflagsBits.Reserved1);
        UpdateMode();
        Rip = target;
        if ((_rflags & RflagsBits.Tf) != 0) SingleStepAfterThisInstruction();
    }

    private void ExecuteSysenter()
    {
        if ((Cr0 & Cr0Pe) == 0 || (Msrs.SysenterCs & 0xFFFC) == 0) Fault(Vector.GP, 0);
        bool longMode = (Efer & EferLma) != 0;
        ushort cs = (ushort)(Msrs.SysenterCs & 0xFFFC);
        SetRflags(GetRflags() & ~(RflagsBits.Vm | RflagsBits.If | RflagsBits.Rf));
        LoadFlatCode(cs, 0, longMode);
        LoadFlatStack((ushort)(cs + 8), 0);
        UpdateMode();
        Gpr[4] = longMode ? Msrs.SysenterEsp : (uint)Msrs.SysenterEsp;
        Rip = longMode ? Msrs.SysenterEip : (uint)Msrs.SysenterEip;
    }

    private void ExecuteSysexit(ref Iced.Intel.Instruction ins)
    {
        if ((Cr0 & Cr0Pe) == 0 || Cpl != 0 || (Msrs.SysenterCs & 0xFFFC) == 0) Fault(Vector.GP, 0);
        bool to64 = ins.Mnemonic == Iced.Intel.Mnemonic.Sysexitq;
        ushort cs = (ushort)(Msrs.SysenterCs & 0xFFFC);
        if (to64)
        {
            LoadFlatCode((ushort)((cs + 32) | 3), 3, longMode: true);
            LoadFlatStack((ushort)((cs + 40) | 3), 3);
            Gpr[4] = Gpr[1];
            Rip = Gpr[2];
        }
        else
        {
            LoadFlatCode((ushort)((cs + 16) | 3), 3, longMode: false);
            LoadFlatStack((ushort)((cs + 24) | 3), 3);
            Gpr[4] = (uint)Gpr[1];
            Rip = (uint)Gpr[2];
        }
        UpdateMode();
    }
}
