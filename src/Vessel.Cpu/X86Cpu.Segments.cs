using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>Segment register loads.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>MOV/POP to a data or stack segment register, with the checks of the current mode.</summary>
    internal void LoadSegment(int seg, ushort selector)
    {
        if ((Cr0 & ControlRegisters.Cr0Pe) == 0)
        {
            Seg[seg].Selector = selector;
            Seg[seg].Base = (ulong)selector << 4;
            return;
        }
        throw new EmulationException("protected-mode segment loads are not implemented yet");
    }
}
