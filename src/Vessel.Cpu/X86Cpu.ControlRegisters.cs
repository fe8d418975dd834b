using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>Writes to CR0, CR3, CR4, CR8 and the debug registers, with the reserved-bit and mode-switch
/// rules, and the TLB flushes and mode updates those writes require.</summary>
internal sealed partial class X86Cpu
{
    private const ulong Cr0Writable = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Mp | ControlRegisters.Cr0Em
        | ControlRegisters.Cr0Ts | ControlRegisters.Cr0Et | ControlRegisters.Cr0Ne | ControlRegisters.Cr0Wp
        | ControlRegisters.Cr0Am | ControlRegisters.Cr0Nw | ControlRegisters.Cr0Cd | ControlRegisters.Cr0Pg;

    /// <summary>CR4 bits this CPU model implements (VME/PVI, UMIP, PCIDE and PKE are not).</summary>
    private static ulong Cr4Supported =>
        ControlRegisters.Cr4Tsd | ControlRegisters.Cr4De | ControlRegisters.Cr4Pse | ControlRegisters.Cr4Pae
        | ControlRegisters.Cr4Mce | ControlRegisters.Cr4Pge | ControlRegisters.Cr4Pce | ControlRegisters.Cr4Osfxsr
        | ControlRegisters.Cr4Osxmmexcpt | ControlRegisters.Cr4Fsgsbase | ControlRegisters.Cr4Smep | ControlRegisters.Cr4Smap
        | (ExtendedFeatures.SupportedXcr0 != 0 ? ControlRegisters.Cr4Osxsave : 0);

    private const ulong Cr4TlbBits = ControlRegisters.Cr4Pge | ControlRegisters.Cr4Pae | ControlRegisters.Cr4Pse
        | ControlRegisters.Cr4Smep | ControlRegisters.Cr4Smap;

    private bool LongModeActive => (Efer & ControlRegisters.EferLma) != 0;

    internal void WriteCr0(ulong value)
    {
        if ((value & ~Cr0Writable) != 0) Fault(Vector.GP, 0);
        value |= ControlRegisters.Cr0Et;
        bool pg = (value & ControlRegisters.Cr0Pg) != 0;
        if (pg && (value & ControlRegisters.Cr0Pe) == 0) Fault(Vector.GP, 0);
        if ((value & ControlRegisters.Cr0Nw) != 0 && (value & ControlRegisters.Cr0Cd) == 0) Fault(Vector.GP, 0);
        bool wasPg = (Cr0 & ControlRegisters.Cr0Pg) != 0;
        ulong efer = Efer;
        if (pg && !wasPg && (Efer & ControlRegisters.EferLme) != 0)
        {
            if ((Cr4 & ControlRegisters.Cr4Pae) == 0 || Seg[CS].Long) Fault(Vector.GP, 0);
            efer |= ControlRegisters.EferLma;
        }
        else if (!pg && wasPg)
        {
            if (Bitness == 64) Fault(Vector.GP, 0);
            efer &= ~ControlRegisters.EferLma;
        }
        ulong changed = Cr0 ^ value;
        Cr0 = value;
        Efer = efer;
        if ((changed & (ControlRegisters.Cr0Pg | ControlRegisters.Cr0Wp | ControlRegisters.Cr0Pe)) != 0) FlushTlb();
        UpdateMode();
    }

    internal void WriteCr3(ulong value)
    {
        if (LongModeActive)
        {
            if ((value & ~((1UL << PhysicalAddressBits) - 1)) != 0) Fault(Vector.GP, 0);
        }
        else
        {
            value &= 0xFFFF_FFFF;
        }
        Cr3 = value;
        FlushTlbForCr3Write();
        _endBlock = true;
    }

    internal void WriteCr4(ulong value)
    {
        if ((value & ~Cr4Supported) != 0) Fault(Vector.GP, 0);
        if (LongModeActive && (value & ControlRegisters.Cr4Pae) == 0) Fault(Vector.GP, 0);
        ulong changed = Cr4 ^ value;
        Cr4 = value;
        if ((changed & Cr4TlbBits) != 0) FlushTlb();
        UpdateMode();
    }

    internal void WriteCr8(ulong value)
    {
        if ((value & ~0xFUL) != 0) Fault(Vector.GP, 0);
        Cr8 = value;
        _endBlock = true; // a lower priority may let a pending interrupt in
    }

    private ulong ReadControlRegister(int n) => n switch
    {
        0 => Cr0,
        2 => Cr2,
        3 => Cr3,
        4 => Cr4,
        8 => Cr8,
        _ => UndefinedOpcode(),
    };

    private void WriteControlRegister(int n, ulong value)
    {
        switch (n)
        {
            case 0: WriteCr0(value); break;
            case 2: Cr2 = value; break;
            case 3: WriteCr3(value); break;
            case 4: WriteCr4(value); break;
            case 8: WriteCr8(value); break;
            default: FaultNoCode(Vector.UD); break;
        }
    }

    private const ulong Dr6Fixed = 0xFFFF_0FF0, Dr7Fixed = 0x400;

    /// <summary>DR4/DR5 alias DR6/DR7 unless CR4.DE, which makes them undefined (#UD).</summary>
    private int DebugRegisterIndex(int n)
    {
        if (n is 4 or 5)
        {
            if ((Cr4 & ControlRegisters.Cr4De) != 0) FaultNoCode(Vector.UD);
            return n + 2;
        }
        if (n > 7) FaultNoCode(Vector.UD);
        return n;
    }

    private ulong ReadDebugRegister(int n)
    {
        int i = DebugRegisterIndex(n);
        return i switch
        {
            6 => Dr[6] | Dr6Fixed,
            7 => Dr[7] | Dr7Fixed,
            _ => Dr[i],
        };
    }

    private void WriteDebugRegister(int n, ulong value)
    {
        int i = DebugRegisterIndex(n);
        if (i >= 6 && (value >> 32) != 0) Fault(Vector.GP, 0);
        Dr[i] = i switch
        {
            6 => (value & 0x1_E00F) | Dr6Fixed,
            7 => (value & 0xFFFF_2BFF) | Dr7Fixed,
            _ => value,
        };
    }

    private ulong UndefinedOpcode()
    {
        FaultNoCode(Vector.UD);
        return 0;
    }
}
