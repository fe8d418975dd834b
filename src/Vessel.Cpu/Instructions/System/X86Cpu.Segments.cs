using Vessel.Hypervisor;
using static Vessel.Cpu.DescriptorTables;
using static Vessel.Cpu.HiddenSegments;

namespace Vessel.Cpu;

/// <summary>Descriptor-table access and segment register loads with the checks of each mode.</summary>
internal sealed partial class X86Cpu : IDescriptorTableCpu
{
    private bool ProtectedMode => (Cr0 & ControlRegisters.Cr0Pe) != 0;
    private bool LongModeActive => (Efer & ControlRegisters.EferLma) != 0;
    bool IDescriptorTableCpu.LongModeActive => LongModeActive;

    /// <summary>The GDT and LDT reader every segment load, gate, interrupt and task switch goes through.</summary>
    private readonly DescriptorTables _descriptors;

    /// <summary>MOV/POP/Lxx to a data or stack segment register, with the checks of the current mode.</summary>
    internal void LoadSegment(int seg, ushort selector)
    {
        if (Vm86Mode)
        {
            Seg[seg] = Vm86Segment(selector);
            return;
        }
        if (!ProtectedMode)
        {
            // Only selector and base change: a limit loaded in protected mode stays ("big real mode").
            Seg[seg].Selector = selector;
            Seg[seg].Base = (ulong)selector << 4;
            Seg[seg].Unusable = false;
            Seg[seg].Present = true;
            return;
        }
        if (seg == SS)
        {
            Segment ss = CheckStackSegment(selector, Cpl, Vector.GP, 0, Bitness == 64, out ulong ssAddress, out SegmentDescriptor ssDesc);
            if (!ss.Unusable) _descriptors.MarkAccessed(ssAddress, ssDesc);
            Seg[SS] = ss;
            return;
        }
        if ((selector & 0xFFFC) == 0)
        {
            // A null selector is allowed in data registers; using it faults. Intel clears the base.
            Seg[seg] = NullSegment(selector);
            return;
        }
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.GP, 0, out ulong address);
        if (!d.IsReadable) Fault(Vector.GP, SelectorError(selector, 0));
        if (!d.IsConformingCode && ((selector & 3) > d.Dpl || Cpl > d.Dpl)) Fault(Vector.GP, SelectorError(selector, 0));
        if (!d.Present) Fault(Vector.NP, SelectorError(selector, 0));
        _descriptors.MarkAccessed(address, d);
        Seg[seg] = d.ToSegment(selector);
        if (LongModeActive && seg >= FS) Seg[seg].Base &= 0xFFFF_FFFF;
    }

    /// <summary>Validates <paramref name="selector"/> as the stack segment for privilege <paramref name="cpl"/>
    /// and returns the hidden part to load. Failures raise <paramref name="vector"/> (#GP for MOV SS, #TS for
    /// stack switches) with the selector; a not-present segment raises #SS (or #TS during a stack switch).
    /// <paramref name="allowNull"/>: the new code runs in 64-bit mode, where a null SS is legal below ring 3.</summary>
    private Segment CheckStackSegment(ushort selector, int cpl, int vector, uint ext, bool allowNull, out ulong address,
        out SegmentDescriptor d)
    {
        if ((selector & 0xFFFC) == 0)
        {
            address = 0;
            d = default;
            if (allowNull && cpl < 3 && (selector & 3) == cpl) return NullSegment(selector, cpl);
            Fault(vector, ext);
        }
        d = _descriptors.ReadOrFault(selector, vector, ext, out address);
        if ((selector & 3) != cpl || d.Dpl != cpl || !d.IsWritableData) Fault(vector, SelectorError(selector, ext));
        if (!d.Present) Fault(vector == Vector.GP ? Vector.SS : vector, SelectorError(selector, ext));
        return d.ToSegment(selector);
    }

    /// <summary>After a return to an outer ring: data registers the new CPL may not use become null.</summary>
    private void NullInaccessibleDataSegments()
    {
        for (int seg = ES; seg <= GS; seg++)
        {
            if (seg is CS or SS) continue;
            ref Segment s = ref Seg[seg];
            if (s.Unusable && (s.Selector & 0xFFFC) == 0) continue;
            bool conformingCode = s.CodeOrData && (s.Type & 0xC) == 0xC;
            if (!conformingCode && s.Dpl < Cpl)
            {
                // The selector becomes null; in 64-bit mode FS/GS keep their base (used by SWAPGS kernels).
                ulong keptBase = s.Base;
                s = NullSegment(0);
                if (LongModeActive && seg >= FS) s.Base = keptBase;
            }
        }
    }
}
