namespace Vessel.Cpu;

/// <summary>The local APIC's MSRs: x2APIC registers (0x800-0x8FF) and IA32_TSC_DEADLINE.</summary>
internal sealed partial class MsrRouter
{
    private bool TryReadApicMsr(uint index, out ulong value)
    {
        value = 0;
        if (_cpu.LocalApic is not { } apic) return false;
        if (index == MsrIndex.TscDeadline)
        {
            value = apic.TscDeadline;
            return true;
        }
        if (!apic.X2ApicMode) return false;
        if (index == MsrIndex.X2ApicIcr)
        {
            value = apic.ReadIcr64();
            return true;
        }
        int offset = (int)(index - MsrIndex.X2ApicFirst) << 4;
        if (offset is 0xB0 or 0x3F0) return false; // write-only
        if (offset is 0x310 or 0xE0) return false;  // no ICR high or DFR in x2APIC mode
        if (!IsApicRegister(offset)) return false;
        value = apic.ReadRegister(offset);
        return true;
    }

    private bool TryWriteApicMsr(uint index, ulong value)
    {
        if (_cpu.LocalApic is not { } apic) return false;
        if (index == MsrIndex.TscDeadline)
        {
            apic.TscDeadline = value;
            return true;
        }
        if (!apic.X2ApicMode) return false;
        if (index == MsrIndex.X2ApicIcr)
        {
            apic.WriteIcr64(value);
            return true;
        }
        if (value >> 32 != 0) return false;
        int offset = (int)(index - MsrIndex.X2ApicFirst) << 4;
        if (offset == 0xB0 && value != 0) return false; // EOI takes only 0
        if (offset == 0x3F0 && value > 0xFF) return false; // SELF IPI: a vector only
        return IsApicRegister(offset) && apic.WriteRegister(offset, (uint)value);
    }

    private static bool IsApicRegister(int offset) => offset is 0x20 or 0x30 or 0x80 or 0xA0 or 0xB0 or 0xD0 or 0xF0
        or (>= 0x100 and < 0x280) or 0x280 or (>= 0x320 and <= 0x390) or 0x3E0 or 0x3F0;
}
