using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>SYSCALL/SYSRET and SYSENTER/SYSEXIT. They load CS and SS with fixed flat descriptors built from
/// the MSRs, never reading the GDT.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>SYSCALL (Intel: 64-bit mode only).</summary>
    private void ExecuteSyscall()
    {
        if ((Efer & ControlRegisters.EferSce) == 0 || Bitness != 64) FaultNoCode(Vector.UD);
        ulong flags = GetRflags();
        Gpr[1] = Rip;
        Gpr[11] = flags & ~RflagsBits.Rf;
        ushort selector = (ushort)(Star >> 32);
        LoadFlatCode(selector & 0xFFFC, dpl: 0, longMode: true);
        LoadFlatStack((selector + 8) & 0xFFFC, dpl: 0);
        SetRflags((flags & ~Sfmask & ~RflagsBits.Rf) | RflagsBits.Reserved1);
        Rip = Lstar;
        UpdateMode();
    }

    /// <summary>SYSRET (Intel: 64-bit mode only), to 64-bit code with REX.W, else to 32-bit compatibility code.</summary>
    private void ExecuteSysret(bool to64)
    {
        if ((Efer & ControlRegisters.EferSce) == 0 || Bitness != 64) FaultNoCode(Vector.UD);
        RequireCpl0();
        if (to64 && !IsCanonical(Gpr[1])) Fault(Vector.GP, 0);
        ushort selector = (ushort)(Star >> 48);
        if (to64)
        {
            LoadFlatCode(((selector + 16) & 0xFFFC) | 3, dpl: 3, longMode: true);
            Rip = Gpr[1];
        }
        else
        {
            LoadFlatCode((selector & 0xFFFC) | 3, dpl: 3, longMode: false);
            Rip = Gpr[1] & 0xFFFF_FFFF;
        }
        // SS keeps its cached descriptor on real CPUs, except selector and DPL; a flat data segment is what
        // every operating system puts there.
        LoadFlatStack(((selector + 8) & 0xFFFC) | 3, dpl: 3);
        SetRflags((Gpr[11] & 0x3C_7FD7) | RflagsBits.Reserved1);
        UpdateMode();
    }

    private void ExecuteSysenter()
    {
        if ((Cr0 & ControlRegisters.Cr0Pe) == 0 || (SysenterCs & 0xFFFC) == 0) Fault(Vector.GP, 0);
        bool longMode = LongModeActive;
        ushort cs = (ushort)(SysenterCs & 0xFFFC);
        LoadFlatCode(cs, dpl: 0, longMode);
        LoadFlatStack(cs + 8, dpl: 0);
        SetRflags(GetRflags() & ~(RflagsBits.Vm | RflagsBits.If | RflagsBits.Rf));
        Rip = longMode ? SysenterEip : SysenterEip & 0xFFFF_FFFF;
        Gpr[4] = longMode ? SysenterEsp : SysenterEsp & 0xFFFF_FFFF;
        UpdateMode();
    }

    private void ExecuteSysexit(bool to64)
    {
        if ((Cr0 & ControlRegisters.Cr0Pe) == 0 || (SysenterCs & 0xFFFC) == 0) Fault(Vector.GP, 0);
        RequireCpl0();
        ushort cs = (ushort)((SysenterCs + (to64 ? 32u : 16u)) & 0xFFFC | 3);
        if (to64 && (!IsCanonical(Gpr[2]) || !IsCanonical(Gpr[1]))) Fault(Vector.GP, 0);
        LoadFlatCode(cs, dpl: 3, to64);
        LoadFlatStack(cs + 8, dpl: 3);
        Rip = to64 ? Gpr[2] : Gpr[2] & 0xFFFF_FFFF;
        Gpr[4] = to64 ? Gpr[1] : Gpr[1] & 0xFFFF_FFFF;
        UpdateMode();
    }

    private void LoadFlatCode(int selector, int dpl, bool longMode)
    {
        Seg[CS] = new Segment
        {
            Selector = (ushort)selector, Base = 0, Limit = 0xFFFF_FFFF, Type = 0xB, Present = true, CodeOrData = true,
            Dpl = (byte)dpl, DefaultBig = !longMode, Long = longMode, Granularity = true,
        };
    }

    private void LoadFlatStack(int selector, int dpl)
    {
        Seg[SS] = new Segment
        {
            Selector = (ushort)selector, Base = 0, Limit = 0xFFFF_FFFF, Type = 0x3, Present = true, CodeOrData = true,
            Dpl = (byte)dpl, DefaultBig = true, Granularity = true,
        };
    }
}
