using Vessel.Hypervisor;

namespace Vessel.Cpu;

/// <summary>The GDT and LDT as the CPU reads them: where a selector's descriptor lies, reading it (8 bytes, or 16
/// for a long-mode system descriptor) with the fault a caller names, and the accessed and busy bits it writes
/// back. Segment loads, gates, interrupts and task switches all read descriptors here.</summary>
internal sealed class DescriptorTables
{
    private readonly IDescriptorTableCpu _cpu;
    private readonly CpuFault _fault;

    public DescriptorTables(IDescriptorTableCpu cpu, CpuFault fault)
    {
        _cpu = cpu;
        _fault = fault;
    }

    /// <summary>The error code of a fault about <paramref name="selector"/>: its index and TI bit, and EXT.</summary>
    public static uint SelectorError(ushort selector, uint ext) => (uint)(selector & 0xFFFC) | ext;

    /// <summary>Linear address of the descriptor <paramref name="selector"/> names, if its
    /// <paramref name="bytes"/> lie within the GDT or LDT limit.</summary>
    public bool TryAddress(ushort selector, int bytes, out ulong address)
    {
        ulong offset = (ulong)(selector & 0xFFF8);
        ulong tableBase;
        uint tableLimit;
        if ((selector & 4) != 0)
        {
            ref Segment ldtr = ref _cpu.Ldtr;
            if (ldtr.Unusable || !ldtr.Present)
            {
                address = 0;
                return false;
            }
            tableBase = ldtr.Base;
            tableLimit = ldtr.Limit;
        }
        else
        {
            tableBase = _cpu.Gdtr.Base;
            tableLimit = _cpu.Gdtr.Limit;
        }
        address = tableBase + offset;
        if (!_cpu.LongModeActive) address &= 0xFFFF_FFFF;
        return offset + (ulong)bytes - 1 <= tableLimit;
    }

    /// <summary>Reads the 8-byte descriptor for <paramref name="selector"/>; false when it is outside its table.</summary>
    public bool TryRead(ushort selector, out SegmentDescriptor descriptor, out ulong address)
    {
        if (!TryAddress(selector, 8, out address))
        {
            descriptor = default;
            return false;
        }
        descriptor = new SegmentDescriptor(_cpu.ReadLinear(address, 8, false));
        return true;
    }

    /// <summary>Reads the descriptor or raises <paramref name="vector"/> with the selector as error code.</summary>
    public SegmentDescriptor ReadOrFault(ushort selector, int vector, uint ext, out ulong address)
    {
        if (!TryRead(selector, out SegmentDescriptor d, out address)) _fault.Raise(vector, SelectorError(selector, ext));
        return d;
    }

    /// <summary>Reads the upper 8 bytes of a 16-byte long-mode system descriptor.</summary>
    public SegmentDescriptor ReadSystem16(ushort selector, SegmentDescriptor low, int vector, uint ext)
    {
        if (!TryAddress(selector, 16, out ulong address)) _fault.Raise(vector, SelectorError(selector, ext));
        ulong high = _cpu.ReadLinear(address + 8, 8, false);
        // The upper half's type field must be 0 (it would be a 16-byte descriptor's second half otherwise).
        if (((high >> 40) & 0x1F) != 0) _fault.Raise(Vector.GP, SelectorError(selector, ext));
        return new SegmentDescriptor(low.Low, high);
    }

    /// <summary>Sets the accessed bit of a code/data descriptor, writing only when it is clear
    /// (kernels keep their GDT read-only with the bit preset).</summary>
    public void MarkAccessed(ulong address, SegmentDescriptor d)
    {
        if ((d.Type & 1) != 0) return;
        _cpu.WriteLinear(address + 5, 1, AccessByte(d) | 1, false);
    }

    /// <summary>Sets or clears the busy bit of the TSS descriptor <paramref name="d"/> read from <paramref name="address"/>.</summary>
    public void SetBusy(ulong address, SegmentDescriptor d, bool busy)
    {
        ulong access = AccessByte(d);
        _cpu.WriteLinear(address + 5, 1, busy ? access | 2 : access & ~2UL, false);
    }

    private static ulong AccessByte(SegmentDescriptor d) => (d.Low >> 40) & 0xFF;
}
