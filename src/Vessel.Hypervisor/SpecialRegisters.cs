namespace Vessel.Hypervisor;

/// <summary>A segment register with its hidden descriptor part, as kvm_segment.</summary>
public struct Segment
{
    public ulong Base;
    public uint Limit;
    public ushort Selector;
    /// <summary>Descriptor type field (4 bits).</summary>
    public byte Type;
    public bool Present;
    public byte Dpl;
    /// <summary>D/B: default operation size 32 bits.</summary>
    public bool DefaultBig;
    /// <summary>S: code or data (true) versus system segment (false).</summary>
    public bool CodeOrData;
    /// <summary>L: 64-bit code segment.</summary>
    public bool Long;
    public bool Granularity;
    public bool Available;
    public bool Unusable;

    /// <summary>A real-mode segment: base = selector * 16, 64 KiB limit, read/write (or execute/read for code).</summary>
    public static Segment RealMode(ushort selector, bool code = false) => new()
    {
        Base = (ulong)selector << 4, Limit = 0xFFFF, Selector = selector,
        Type = (byte)(code ? 0xB : 0x3), Present = true, CodeOrData = true,
    };

    /// <summary>A flat 4 GiB protected-mode segment.</summary>
    public static Segment Flat(ushort selector, bool code, bool longMode = false) => new()
    {
        Base = 0, Limit = 0xFFFF_FFFF, Selector = selector,
        Type = (byte)(code ? 0xB : 0x3), Present = true, CodeOrData = true,
        DefaultBig = !(code && longMode), Long = code && longMode, Granularity = true,
    };
}

public struct DescriptorTable
{
    public ulong Base;
    public ushort Limit;
}

/// <summary>System registers, as kvm_sregs.</summary>
public struct SpecialRegisters
{
    public Segment Cs, Ds, Es, Fs, Gs, Ss, Tr, Ldt;
    public DescriptorTable Gdt, Idt;
    public ulong Cr0, Cr2, Cr3, Cr4, Cr8, Efer, ApicBase;

    /// <summary>The state of an x86 CPU after RESET, but with CS:IP chosen by the caller (real mode).</summary>
    public static SpecialRegisters RealMode(ushort cs = 0) => new()
    {
        Cs = Segment.RealMode(cs, code: true),
        Ds = Segment.RealMode(0), Es = Segment.RealMode(0), Fs = Segment.RealMode(0),
        Gs = Segment.RealMode(0), Ss = Segment.RealMode(0),
        Tr = new Segment { Limit = 0xFFFF, Type = 0xB, Present = true },
        Ldt = new Segment { Limit = 0xFFFF, Type = 0x2, Present = true },
        Gdt = new DescriptorTable { Limit = 0xFFFF },
        Idt = new DescriptorTable { Limit = 0xFFFF },
        Cr0 = ControlRegisters.Cr0Et | ControlRegisters.Cr0Cd | ControlRegisters.Cr0Nw,
        ApicBase = PcLayout.LocalApicBase | 0x900, // enabled, bootstrap processor
    };
}

public static class ControlRegisters
{
    public const ulong Cr0Pe = 1, Cr0Mp = 1 << 1, Cr0Em = 1 << 2, Cr0Ts = 1 << 3, Cr0Et = 1 << 4, Cr0Ne = 1 << 5;
    public const ulong Cr0Wp = 1 << 16, Cr0Am = 1 << 18, Cr0Nw = 1 << 29, Cr0Cd = 1 << 30, Cr0Pg = 1UL << 31;
    public const ulong Cr4Vme = 1, Cr4Pvi = 1 << 1, Cr4Tsd = 1 << 2, Cr4De = 1 << 3, Cr4Pse = 1 << 4, Cr4Pae = 1 << 5;
    public const ulong Cr4Mce = 1 << 6, Cr4Pge = 1 << 7, Cr4Pce = 1 << 8, Cr4Osfxsr = 1 << 9, Cr4Osxmmexcpt = 1 << 10;
    public const ulong Cr4Umip = 1 << 11, Cr4Fsgsbase = 1 << 16, Cr4Pcide = 1 << 17, Cr4Osxsave = 1 << 18;
    public const ulong Cr4Smep = 1 << 20, Cr4Smap = 1 << 21;
    public const ulong EferSce = 1, EferLme = 1 << 8, EferLma = 1 << 10, EferNxe = 1 << 11;
}
