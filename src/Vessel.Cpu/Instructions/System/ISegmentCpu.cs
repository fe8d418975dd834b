namespace Vessel.Cpu;

/// <summary>What <see cref="SegmentLoader"/> needs of its CPU: the state block, whose CR0, EFER, RFLAGS.VM, CPL
/// and bitness give the mode and whose segment file it loads.</summary>
internal interface ISegmentCpu
{
    ref CpuState State { get; }
}
