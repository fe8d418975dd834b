namespace Vessel.Cpu.Platform;

/// <summary>The vCPU as its local APIC sees it: the only members of the CPU the APIC (and the APIC bus that
/// delivers INIT and SIPI through it) may use.</summary>
internal interface IApicCpu
{
    int VcpuId { get; }
    /// <summary>IA32_APIC_BASE: the global enable, x2APIC mode and the xAPIC's MMIO base.</summary>
    ulong ApicBase { get; }
    /// <summary>The time-stamp counter as this vCPU's RDTSC reads it (the TSC-deadline timer compares with it).</summary>
    ulong ReadTsc();
    /// <summary>Ends a halt: something for the CPU to take.</summary>
    void Wake();
    /// <summary>Makes the CPU ask its platform again at the next instruction boundary (a timer was re-armed).</summary>
    void RequestPoll();
    void SignalInit();
    void SignalSipi(int vector);
}
