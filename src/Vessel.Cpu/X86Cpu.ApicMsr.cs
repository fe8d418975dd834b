namespace Vessel.Cpu;

/// <summary>The x2APIC MSRs (0x800-0x8FF) and IA32_TSC_DEADLINE belong to the vCPU's local APIC;
/// without one (or outside x2APIC mode for 0x800-0x8FF) they do not exist (#GP).</summary>
internal sealed partial class X86Cpu
{
    private bool TryReadApicMsr(uint index, out ulong value)
    {
        value = 0;
        Platform.LocalApic? apic = Lapic;
        if (apic == null) return false;
        if (index == MsrTscDeadline)
        {
            value = apic.ReadTscDeadline();
            return true;
        }
        return apic.TryReadMsr(index, out value);
    }

    private bool TryWriteApicMsr(uint index, ulong value)
    {
        Platform.LocalApic? apic = Lapic;
        if (apic == null) return false;
        if (index == MsrTscDeadline)
        {
            apic.WriteTscDeadline(value);
            return true;
        }
        return apic.TryWriteMsr(index, value);
    }
}
