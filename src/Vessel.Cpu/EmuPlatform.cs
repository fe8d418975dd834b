namespace Vessel.Cpu;

/// <summary>The devices KVM keeps in the kernel (LAPIC, IOAPIC, PIC, PIT), hosted by the emu backend so
/// the VMM above cannot tell the backends apart. Accesses they claim never leave the backend.</summary>
internal sealed class EmuPlatform
{
    public bool TryReadMmio(X86Cpu cpu, ulong physical, int size, out ulong value)
    {
        value = 0;
        return false;
    }

    public bool TryWriteMmio(X86Cpu cpu, ulong physical, int size, ulong value) => false;

    public bool TryReadPort(X86Cpu cpu, ushort port, int size, out ulong value)
    {
        value = 0;
        return false;
    }

    public bool TryWritePort(X86Cpu cpu, ushort port, int size, ulong value) => false;

    public void SetIrqLine(uint gsi, bool level)
    {
    }

    public void SignalMsi(ulong address, uint data)
    {
    }

    /// <summary>Whether something other than a maskable interrupt (NMI, INIT) could end a HLT.</summary>
    public bool CanWake(X86Cpu cpu) => false;

    /// <summary>Blocks a halted vCPU until an interrupt for it arrives or it is kicked.</summary>
    public void WaitForWake(X86Cpu cpu) => cpu.WaitForWakeSignal();
}
