using Iced.Intel;
using Vessel.Hypervisor;
using static Vessel.Hypervisor.ControlRegisters;
using RflagsBits = Vessel.Hypervisor.RflagsBits;
using static Vessel.Cpu.X86Cpu;

namespace Vessel.Cpu;

/// <summary>SYSCALL/SYSRET and SYSENTER/SYSEXIT: privilege changes with fixed, flat segments taken from MSRs
/// rather than from descriptors.</summary>
internal sealed class FastSystemCalls
{
    private readonly ISystemCpu _cpu;
    private readonly CpuFault _fault;
    private readonly MsrFile _msrs;

    public FastSystemCalls(ISystemCpu cpu, CpuFault fault, MsrFile msrs)
    {
        _cpu = cpu;
        _fault = fault;
        _msrs = msrs;
    }

    private ref CpuState S => ref _cpu.State;

    /// <summary>Executes SYSCALL, SYSRET(Q), SYSENTER or SYSEXIT(Q); false if <paramref name="ins"/> is none of them.</summary>
    public bool Execute(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Syscall: Syscall(); return true;
            case Mnemonic.Sysret: case Mnemonic.Sysretq: Sysret(ins.Mnemonic == Mnemonic.Sysretq); return true;
            case Mnemonic.Sysenter: Sysenter(); return true;
            case Mnemonic.Sysexit: case Mnemonic.Sysexitq: Sysexit(ins.Mnemonic == Mnemonic.Sysexitq); return true;
            default: return false;
        }
    }

    private void LoadFlatCode(ushort selector, int dpl, bool longMode)
    {
        S.Seg[CS] = new Segment
        {
            Selector = selector, Base = 0, Limit = 0xFFFF_FFFF, Type = 0xB, Present = true, Dpl = (byte)dpl,
            CodeOrData = true, Long = longMode, DefaultBig = !longMode, Granularity = true,
        };
    }

    private void LoadFlatStack(ushort selector, int dpl)
    {
        S.Seg[SS] = new Segment
        {
            Selector = selector, Base = 0, Limit = 0xFFFF_FFFF, Type = 0x3, Present = true, Dpl = (byte)dpl,
            CodeOrData = true, DefaultBig = true, Granularity = true,
        };
    }

    private void Syscall()
    {
        ref CpuState s = ref S;
        if ((s.Efer & EferSce) == 0 || (s.Efer & EferLma) == 0) _fault.Raise(Vector.UD, 0); // legacy SYSCALL is AMD-only
        ushort selector = (ushort)(_msrs.Star >> 32);
        s.Gpr[1] = s.Rip;
        s.Gpr[11] = _cpu.GetRflags();
        ulong target = s.Bitness == 64 ? _msrs.Lstar : _msrs.Cstar;
        LoadFlatCode((ushort)(selector & 0xFFFC), 0, longMode: true);
        LoadFlatStack((ushort)((selector + 8) & 0xFFFC), 0);
        _cpu.SetRflags(_cpu.GetRflags() & ~_msrs.Sfmask & ~RflagsBits.Rf);
        _cpu.UpdateMode();
        s.Rip = target;
    }

    private void Sysret(bool to64)
    {
        ref CpuState s = ref S;
        if ((s.Efer & EferSce) == 0) _fault.Raise(Vector.UD, 0);
        if (s.Bitness != 64 || s.Cpl != 0) _fault.Raise(Vector.GP, 0);
        ushort selector = (ushort)(_msrs.Star >> 48);
        ulong target = to64 ? s.Gpr[1] : (uint)s.Gpr[1];
        if (to64 && !LinearAddress.IsCanonical(target)) _fault.Raise(Vector.GP, 0);
        if (to64) LoadFlatCode((ushort)((selector + 16) | 3), 3, longMode: true);
        else LoadFlatCode((ushort)(selector | 3), 3, longMode: false);
        LoadFlatStack((ushort)((selector + 8) | 3), 3);
        _cpu.SetRflags((s.Gpr[11] & ~(RflagsBits.Rf | RflagsBits.Vm)) | RflagsBits.Reserved1);
        _cpu.UpdateMode();
        s.Rip = target;
        if ((s.Rflags & RflagsBits.Tf) != 0) _cpu.SingleStepAfterThisInstruction();
    }

    private void Sysenter()
    {
        ref CpuState s = ref S;
        if ((s.Cr0 & Cr0Pe) == 0 || (_msrs.SysenterCs & 0xFFFC) == 0) _fault.Raise(Vector.GP, 0);
        bool longMode = (s.Efer & EferLma) != 0;
        ushort cs = (ushort)(_msrs.SysenterCs & 0xFFFC);
        _cpu.SetRflags(_cpu.GetRflags() & ~(RflagsBits.Vm | RflagsBits.If | RflagsBits.Rf));
        LoadFlatCode(cs, 0, longMode);
        LoadFlatStack((ushort)(cs + 8), 0);
        _cpu.UpdateMode();
        s.Gpr[4] = longMode ? _msrs.SysenterEsp : (uint)_msrs.SysenterEsp;
        s.Rip = longMode ? _msrs.SysenterEip : (uint)_msrs.SysenterEip;
    }

    private void Sysexit(bool to64)
    {
        ref CpuState s = ref S;
        if ((s.Cr0 & Cr0Pe) == 0 || s.Cpl != 0 || (_msrs.SysenterCs & 0xFFFC) == 0) _fault.Raise(Vector.GP, 0);
        ushort cs = (ushort)(_msrs.SysenterCs & 0xFFFC);
        if (to64)
        {
            LoadFlatCode((ushort)((cs + 32) | 3), 3, longMode: true);
            LoadFlatStack((ushort)((cs + 40) | 3), 3);
            s.Gpr[4] = s.Gpr[1];
            s.Rip = s.Gpr[2];
        }
        else
        {
            LoadFlatCode((ushort)((cs + 16) | 3), 3, longMode: false);
            LoadFlatStack((ushort)((cs + 24) | 3), 3);
            s.Gpr[4] = (uint)s.Gpr[1];
            s.Rip = (uint)s.Gpr[2];
        }
        _cpu.UpdateMode();
    }
}
