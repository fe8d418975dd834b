namespace Vessel.Cpu;

/// <summary>The CPU's mode predicates and its descriptor-table reader and segment loader.</summary>
internal sealed partial class X86Cpu : IDescriptorTableCpu, ISegmentCpu
{
    private bool ProtectedMode => State.ProtectedMode;
    private bool LongModeActive => State.LongModeActive;
    bool IDescriptorTableCpu.LongModeActive => LongModeActive;

    /// <summary>The GDT and LDT reader every segment load, gate, interrupt and task switch goes through.</summary>
    private readonly DescriptorTables _descriptors;

    /// <summary>Segment register loads: MOV/POP/Lxx, the stacks gates and returns switch to.</summary>
    private readonly SegmentLoader _segments;

    ref CpuState ISegmentCpu.State => ref State;
}
