namespace Vessel.Cpu;

/// <summary>The local APIC's MSRs (x2APIC 0x800-0x8FF, IA32_TSC_DEADLINE). The platform's LAPIC fills these in;
/// until then they do not exist and the guest gets #GP.</summary>
internal sealed partial class X86Cpu
{
    private partial bool TryReadApicMsr(uint index, out ulong value)
    {
        value = 0;
        return false;
    }

    private partial bool TryWriteApicMsr(uint index, ulong value) => false;
}
