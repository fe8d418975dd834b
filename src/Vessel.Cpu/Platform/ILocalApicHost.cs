namespace Vessel.Cpu.Platform;

/// <summary>What a local APIC needs from its vCPU (an interface so tests can drive the APIC alone).</summary>
internal interface ILocalApicHost
{
    int VcpuId { get; }
    /// <summary>IA32_APIC_BASE: base address, bit 8 BSP, bit 10 x2APIC (EXTD), bit 11 enable.</summary>
    ulong ApicBase { get; }
    /// <summary>This vCPU's TSC (guest clock plus its IA32_TSC offset).</summary>
    ulong ReadTsc();
    void SignalInit();
    void SignalSipi(int vector);
    /// <summary>Ends a halt or a timed sleep (from any thread).</summary>
    void Wake();
    /// <summary>The timer deadline changed: poll again before relying on the cached deadline.</summary>
    void RequestTimerPoll();
}

/// <summary>Guest time with the mapping to host Stopwatch timestamps that sleeping needs.</summary>
internal interface IGuestTimeBase : Vessel.Devices.Platform.IPlatformClock
{
    long NanosecondsAt(long timestamp);
    long TimestampAt(long nanoseconds);
}

/// <summary>The PIC as the local APIC's LINT0 / ExtINT source.</summary>
internal interface IExtIntSource
{
    /// <summary>INTA: the PIC's vector (a spurious one if the request vanished).</summary>
    int AcknowledgeExtInt();
}
