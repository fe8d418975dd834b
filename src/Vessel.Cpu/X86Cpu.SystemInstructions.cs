using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>System instructions: control and debug registers, GDTR/IDTR, MSRs, CPUID, TSC, SYSCALL/SYSENTER.
/// Segment-related system instructions (far transfers, INT/IRET, LLDT/LTR, LAR/LSL) live in
/// <see cref="ExecuteSegmentSystem"/>.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>Executes a system-level instruction; false if <paramref name="ins"/> is not one.</summary>
    private bool ExecuteSystem(ref Instruction ins) => ExecuteSegmentSystem(ref ins) || ExecuteControlSystem(ref ins);

    /// <summary>MOV CR/DR, LGDT/LIDT/SGDT/SIDT, CLTS, INVLPG, RDMSR/WRMSR, CPUID, RDTSC(P), SWAPGS, SYSCALL/SYSRET,
    /// SYSENTER/SYSEXIT, WBINVD/INVD, LMSW/SMSW; false if <paramref name="ins"/> is none of them.</summary>
    private bool ExecuteControlSystem(ref Instruction ins) => false;
}
