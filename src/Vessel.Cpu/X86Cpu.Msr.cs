namespace Vessel.Cpu;

/// <summary>Model-specific registers.</summary>
internal sealed partial class X86Cpu
{
    private void ResetMsrs()
    {
    }

    /// <summary>Reads an MSR; false if this CPU model has no such MSR.</summary>
    internal bool TryReadMsr(uint index, out ulong value)
    {
        value = 0;
        return false;
    }

    /// <summary>Writes an MSR; false if there is no such MSR or the value is refused (the guest gets #GP).</summary>
    internal bool TryWriteMsr(uint index, ulong value) => false;
}
