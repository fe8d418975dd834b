namespace Vessel.Cpu;

/// <summary>The x2APIC MSRs (0x800-0x8FF) and IA32_TSC_DEADLINE belong to the local APIC of the platform;
/// until it is attached they do not exist (#GP).</summary>
internal sealed partial class X86Cpu
{
    private bool TryReadApicMsr(uint index, out ulong value)
    {
        value = 0;
        return false;
    }

    private bool TryWriteApicMsr(uint index, ulong value) => false;
}
