using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>What <see cref="SystemInstructions"/>, <see cref="SegmentInstructions"/> and <see cref="MsrRouter"/>
/// need of their CPU: its operands (<see cref="IUnitCpu"/>), the control transfers' view (<see cref="ISystemCpu"/>),
/// and the few members of the core that system instructions change: the debug registers, IA32_APIC_BASE, the
/// local APIC, the TLB, RFLAGS.OF and the event delivery the profiler counts. Read and write linear memory through
/// the units they call, not through this view (both bases name them).</summary>
internal interface ISystemInstructionCpu : ISystemCpu, IUnitCpu
{
    int VcpuId { get; }
    /// <summary>DR0-DR7.</summary>
    ulong[] DebugRegisters { get; }
    /// <summary>IA32_APIC_BASE.</summary>
    ref ulong ApicBase { get; }
    /// <summary>This vCPU's local APIC, once the platform attaches one.</summary>
    Platform.LocalApic? LocalApic { get; }

    void FlushTlb();
    void FlushTlbPage(ulong linear);
    /// <summary>RFLAGS.AC was cleared: translations that SMAP allowed only because of it go.</summary>
    void DropAcTranslations();
    bool GetOf();

    /// <summary>Reads operand <paramref name="n"/> (a segment register reads as its selector).</summary>
    ulong ReadOperand(ref Instruction ins, int n, int size);
    /// <summary>Reads the destination of a read-modify-write after checking it is writable.</summary>
    ulong ReadModifyTarget(ref Instruction ins, int size);
    void WriteModifyTarget(ref Instruction ins, int size, ulong value);

    /// <summary>Delivers an interrupt or exception as the run loop does (counted by the profiler).</summary>
    void DeliverEvent(int vector, InterruptSource source, bool hasErrorCode, uint errorCode);
}
