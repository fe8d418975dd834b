using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>What <see cref="DescriptorTables"/> needs of its CPU: the table registers, the mode, and linear
/// memory as the CPU reaches it (through its TLB and the VMM's devices).</summary>
internal interface IDescriptorTableCpu
{
    ref DescriptorTable Gdtr { get; }
    ref Segment Ldtr { get; }
    /// <summary>EFER.LMA: descriptor addresses are 64-bit, else truncated to 32 bits.</summary>
    bool LongModeActive { get; }
    ulong ReadLinear(ulong linear, int size, bool user);
    void WriteLinear(ulong linear, int size, ulong value, bool user);
}
