using Vessel.Hypervisor;

namespace Vessel.Testing;

/// <summary>Register states for guests started directly, without a loader.</summary>
public static class FlatSegments
{
    /// <summary>32-bit protected mode without paging: flat 4 GiB code (selector 0x08) and data (0x10) segments,
    /// a busy TSS and an empty LDT, as a loader would leave them.</summary>
    public static SpecialRegisters ProtectedMode32() => new()
    {
        Cs = Segment.Flat(0x08, code: true), Ds = Segment.Flat(0x10, false), Es = Segment.Flat(0x10, false),
        Ss = Segment.Flat(0x10, false), Fs = Segment.Flat(0x10, false), Gs = Segment.Flat(0x10, false),
        Tr = new Segment { Type = 0xB, Present = true, Limit = 0x67 }, Ldt = new Segment { Type = 2, Present = true },
        Cr0 = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Et,
    };
}
