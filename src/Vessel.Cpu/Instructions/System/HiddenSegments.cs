namespace Vessel.Cpu;

/// <summary>Hidden segment-register parts that do not come from a descriptor.</summary>
internal static class HiddenSegments
{
    /// <summary>A null or otherwise unusable data segment: any access through it faults (outside 64-bit mode).</summary>
    public static Vessel.Hypervisor.Segment NullSegment(ushort selector, int dpl = 0) => new()
    {
        Selector = selector, Unusable = true, Dpl = (byte)dpl,
    };

    /// <summary>A segment register as virtual-8086 mode loads it: base = selector × 16, 64 KiB, DPL 3.</summary>
    public static Vessel.Hypervisor.Segment Vm86Segment(ushort selector) => new()
    {
        Selector = selector, Base = (ulong)selector << 4, Limit = 0xFFFF, Type = 3, Present = true, Dpl = 3, CodeOrData = true,
    };
}
