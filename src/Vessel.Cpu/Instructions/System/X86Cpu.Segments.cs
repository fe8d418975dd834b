using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>The CPU's mode predicates and its descriptor-table reader and segment loader.</summary>
internal sealed partial class X86Cpu : IDescriptorTableCpu, ISegmentCpu
{
    private bool ProtectedMode => (Cr0 & ControlRegisters.Cr0Pe) != 0;
    private bool LongModeActive => (Efer & ControlRegisters.EferLma) != 0;
    bool IDescriptorTableCpu.LongModeActive => LongModeActive;

    /// <summary>The GDT and LDT reader every segment load, gate, interrupt and task switch goes through.</summary>
    private readonly DescriptorTables _descriptors;

    /// <summary>Segment register loads: MOV/POP/Lxx, the stacks gates and returns switch to.</summary>
    private readonly SegmentLoader _segments;

    ref CpuState ISegmentCpu.State => ref State;
}
