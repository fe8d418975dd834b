using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>The backend contract's view of the register file.</summary>
internal sealed partial class X86Cpu
{
    public Registers GetRegisters()
    {
        var r = new Registers();
        for (int i = 0; i < 16; i++) r[i] = Gpr[i];
        r.Rip = Rip;
        r.Rflags = GetRflags();
        return r;
    }

    public void SetRegisters(in Registers r)
    {
        for (int i = 0; i < 16; i++) Gpr[i] = r[i];
        Rip = r.Rip;
        SetRflags(r.Rflags);
        Halted = false;
    }

    public SpecialRegisters GetSpecialRegisters() => new()
    {
        Es = Seg[ES], Cs = Seg[CS], Ss = Seg[SS], Ds = Seg[DS], Fs = Seg[FS], Gs = Seg[GS],
        Ldt = Ldtr, Tr = Tr, Gdt = Gdtr, Idt = Idtr,
        Cr0 = Cr0, Cr2 = Cr2, Cr3 = Cr3, Cr4 = Cr4, Cr8 = Cr8, Efer = Efer, ApicBase = ApicBase,
    };

    public void SetSpecialRegisters(in SpecialRegisters s)
    {
        Seg[ES] = s.Es; Seg[CS] = s.Cs; Seg[SS] = s.Ss; Seg[DS] = s.Ds; Seg[FS] = s.Fs; Seg[GS] = s.Gs;
        Ldtr = s.Ldt; Tr = s.Tr; Gdtr = s.Gdt; Idtr = s.Idt;
        Cr0 = s.Cr0; Cr2 = s.Cr2; Cr3 = s.Cr3; Cr4 = s.Cr4; Cr8 = s.Cr8 & 0xF; Efer = s.Efer;
        if (s.ApicBase != 0) ApicBase = s.ApicBase;
        UpdateMode();
        FlushTlb();
        Halted = false;
    }

    /// <summary>IA32_APIC_BASE: the xAPIC at 0xFEE00000, enabled, BSP flag on vCPU 0.</summary>
    public ulong ApicBase = PcLayout.LocalApicBase | 0x900;
    ulong Platform.IApicCpu.ApicBase => ApicBase;
}
