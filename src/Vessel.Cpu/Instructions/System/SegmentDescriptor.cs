using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>An 8-byte GDT/LDT/IDT entry (plus the upper 8 bytes of a 16-byte long-mode system descriptor),
/// decoded field by field.</summary>
internal readonly struct SegmentDescriptor(ulong low, ulong high = 0)
{
    public readonly ulong Low = low;
    /// <summary>Bytes 8-15 of a 16-byte system descriptor or gate (long mode); 0 otherwise.</summary>
    public readonly ulong High = high;

    public byte Type => (byte)((Low >> 40) & 0xF);
    /// <summary>S: code or data segment (true) rather than a system descriptor or gate.</summary>
    public bool CodeOrData => (Low & (1UL << 44)) != 0;
    public int Dpl => (int)((Low >> 45) & 3);
    public bool Present => (Low & (1UL << 47)) != 0;
    public bool Available => (Low & (1UL << 52)) != 0;
    public bool Long => (Low & (1UL << 53)) != 0;
    public bool DefaultBig => (Low & (1UL << 54)) != 0;
    public bool Granularity => (Low & (1UL << 55)) != 0;

    public bool IsCode => CodeOrData && (Type & 8) != 0;
    public bool IsData => CodeOrData && (Type & 8) == 0;
    public bool IsConformingCode => IsCode && (Type & 4) != 0;
    /// <summary>Readable code or any data segment.</summary>
    public bool IsReadable => CodeOrData && ((Type & 8) == 0 || (Type & 2) != 0);
    public bool IsWritableData => IsData && (Type & 2) != 0;

    public ulong Base => ((Low >> 16) & 0xFF_FFFF) | (((Low >> 56) & 0xFF) << 24);
    /// <summary>Base including bits 32-63 from the upper half (16-byte system descriptors).</summary>
    public ulong Base64 => Base | ((High & 0xFFFF_FFFF) << 32);

    /// <summary>Limit in bytes, scaled by the granularity bit.</summary>
    public uint Limit
    {
        get
        {
            uint raw = (uint)(Low & 0xFFFF) | (uint)((Low >> 32) & 0xF_0000);
            return Granularity ? (raw << 12) | 0xFFF : raw;
        }
    }

    // Gate fields (call, interrupt and trap gates).
    public ushort GateSelector => (ushort)(Low >> 16);
    public ulong GateOffset32 => (Low & 0xFFFF) | ((Low >> 32) & 0xFFFF_0000);
    public ulong GateOffset64 => GateOffset32 | ((High & 0xFFFF_FFFF) << 32);
    /// <summary>Parameter count of a legacy call gate (dwords or words to copy).</summary>
    public int GateParameterCount => (int)((Low >> 32) & 0x1F);
    /// <summary>Interrupt-stack-table index of a 64-bit interrupt or trap gate (0 = none).</summary>
    public int GateIst => (int)((Low >> 32) & 7);

    /// <summary>The hidden part of a segment register loaded from this descriptor.</summary>
    public Segment ToSegment(ushort selector, bool systemBase64 = false) => new()
    {
        Base = systemBase64 ? Base64 : Base,
        Limit = Limit,
        Selector = selector,
        Type = Type,
        Present = Present,
        Dpl = (byte)Dpl,
        DefaultBig = DefaultBig,
        CodeOrData = CodeOrData,
        Long = Long,
        Granularity = Granularity,
        Available = Available,
    };
}

/// <summary>System descriptor and gate types (the S=0 type field).</summary>
internal static class SystemType
{
    public const byte Tss16Available = 1, Ldt = 2, Tss16Busy = 3, CallGate16 = 4, TaskGate = 5;
    public const byte InterruptGate16 = 6, TrapGate16 = 7, Tss32Available = 9, Tss32Busy = 0xB;
    public const byte CallGate32 = 0xC, InterruptGate32 = 0xE, TrapGate32 = 0xF;
}
