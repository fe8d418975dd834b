using Vessel.Hypervisor;
using static Vessel.Cpu.DescriptorTables;
using static Vessel.Cpu.HiddenSegments;
using static Vessel.Cpu.X86Cpu;

namespace Vessel.Cpu;

/// <summary>Segment register loads with the checks of each mode: data and stack segments from MOV, POP and
/// Lxx, the stack segment a gate, far return or IRET switches to, the data registers a return to an outer ring
/// must drop, the code segment a far JMP/CALL, a gate, a far RET or an IRET transfers to, and TR and LDTR
/// (LTR, LLDT).</summary>
internal sealed class SegmentLoader
{
    private readonly ISegmentCpu _cpu;
    private readonly DescriptorTables _descriptors;
    private readonly CpuFault _fault;

    public SegmentLoader(ISegmentCpu cpu, DescriptorTables descriptors, CpuFault fault)
    {
        _cpu = cpu;
        _descriptors = descriptors;
        _fault = fault;
    }

    /// <summary>MOV/POP/Lxx to a data or stack segment register, with the checks of the current mode.</summary>
    public void Load(int seg, ushort selector)
    {
        ref CpuState s = ref _cpu.State;
        if (s.Vm86Mode)
        {
            s.Seg[seg] = Vm86Segment(selector);
            return;
        }
        if (!s.ProtectedMode)
        {
            // Only selector and base change: a limit loaded in protected mode stays ("big real mode").
            s.Seg[seg].Selector = selector;
            s.Seg[seg].Base = (ulong)selector << 4;
            s.Seg[seg].Unusable = false;
            s.Seg[seg].Present = true;
            return;
        }
        if (seg == SS)
        {
            Segment ss = CheckStackSegment(selector, s.Cpl, Vector.GP, 0, s.Bitness == 64, out ulong ssAddress, out SegmentDescriptor ssDesc);
            if (!ss.Unusable) _descriptors.MarkAccessed(ssAddress, ssDesc);
            s.Seg[SS] = ss;
            return;
        }
        if ((selector & 0xFFFC) == 0)
        {
            // A null selector is allowed in data registers; using it faults. Intel clears the base.
            s.Seg[seg] = NullSegment(selector);
            return;
        }
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.GP, 0, out ulong address);
        if (!d.IsReadable) _fault.Raise(Vector.GP, SelectorError(selector, 0));
        if (!d.IsConformingCode && ((selector & 3) > d.Dpl || s.Cpl > d.Dpl)) _fault.Raise(Vector.GP, SelectorError(selector, 0));
        if (!d.Present) _fault.Raise(Vector.NP, SelectorError(selector, 0));
        _descriptors.MarkAccessed(address, d);
        s.Seg[seg] = d.ToSegment(selector);
        if (s.LongModeActive && seg >= FS) s.Seg[seg].Base &= 0xFFFF_FFFF;
    }

    /// <summary>Validates <paramref name="selector"/> as the stack segment for privilege <paramref name="cpl"/>
    /// and returns the hidden part to load. Failures raise <paramref name="vector"/> (#GP for MOV SS, #TS for
    /// stack switches) with the selector; a not-present segment raises #SS (or #TS during a stack switch).
    /// <paramref name="allowNull"/>: the new code runs in 64-bit mode, where a null SS is legal below ring 3.</summary>
    public Segment CheckStackSegment(ushort selector, int cpl, int vector, uint ext, bool allowNull, out ulong address,
        out SegmentDescriptor d)
    {
        if ((selector & 0xFFFC) == 0)
        {
            address = 0;
            d = default;
            if (allowNull && cpl < 3 && (selector & 3) == cpl) return NullSegment(selector, cpl);
            _fault.Raise(vector, ext);
        }
        d = _descriptors.ReadOrFault(selector, vector, ext, out address);
        if ((selector & 3) != cpl || d.Dpl != cpl || !d.IsWritableData) _fault.Raise(vector, SelectorError(selector, ext));
        if (!d.Present) _fault.Raise(vector == Vector.GP ? Vector.SS : vector, SelectorError(selector, ext));
        return d.ToSegment(selector);
    }

    /// <summary>After a return to an outer ring: data registers the new CPL may not use become null.</summary>
    public void NullInaccessibleDataSegments()
    {
        ref CpuState state = ref _cpu.State;
        for (int seg = ES; seg <= GS; seg++)
        {
            if (seg is CS or SS) continue;
            ref Segment s = ref state.Seg[seg];
            if (s.Unusable && (s.Selector & 0xFFFC) == 0) continue;
            bool conformingCode = s.CodeOrData && (s.Type & 0xC) == 0xC;
            if (!conformingCode && s.Dpl < state.Cpl)
            {
                // The selector becomes null; in 64-bit mode FS/GS keep their base (used by SWAPGS kernels).
                ulong keptBase = s.Base;
                s = NullSegment(0);
                if (state.LongModeActive && seg >= FS) s.Base = keptBase;
            }
        }
    }

    /// <summary>Checks a code descriptor as the target of a direct far JMP or CALL at the current CPL.</summary>
    public Segment CheckDirectCodeTarget(ushort selector, SegmentDescriptor d, ulong address)
    {
        ref CpuState s = ref _cpu.State;
        uint error = SelectorError(selector, 0);
        if (d.IsConformingCode)
        {
            if (d.Dpl > s.Cpl) _fault.Raise(Vector.GP, error);
        }
        else if ((selector & 3) > s.Cpl || d.Dpl != s.Cpl)
        {
            _fault.Raise(Vector.GP, error);
        }
        if (!d.Present) _fault.Raise(Vector.NP, error);
        if (s.LongModeActive && d.Long && d.DefaultBig) _fault.Raise(Vector.GP, error);
        _descriptors.MarkAccessed(address, d);
        return d.ToSegment(selector);
    }

    /// <summary>The code descriptor a gate points to: present code, or #GP/#NP with its selector.</summary>
    public SegmentDescriptor ReadGateTarget(ushort selector, uint ext, out ulong address)
    {
        if ((selector & 0xFFFC) == 0) _fault.Raise(Vector.GP, ext);
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.GP, ext, out address);
        if (!d.IsCode) _fault.Raise(Vector.GP, SelectorError(selector, ext));
        return d;
    }

    /// <summary>Reads and checks the gate's target code segment; returns it with the new CPL.</summary>
    public Segment CheckInterruptTarget(ushort selector, uint ext, bool requireLong, out int newCpl, out bool inner)
    {
        ref CpuState s = ref _cpu.State;
        SegmentDescriptor td = ReadGateTarget(selector, ext, out ulong address);
        uint error = SelectorError(selector, ext);
        if (td.Dpl > s.Cpl) _fault.Raise(Vector.GP, error);
        if (requireLong && (!td.Long || td.DefaultBig)) _fault.Raise(Vector.GP, error);
        if (!td.Present) _fault.Raise(Vector.NP, error);
        inner = !td.IsConformingCode && td.Dpl < s.Cpl;
        newCpl = inner ? td.Dpl : s.Cpl;
        _descriptors.MarkAccessed(address, td);
        return td.ToSegment(selector);
    }

    /// <summary>The checks far RET and IRET make on the code segment they return to: a non-null selector with
    /// RPL &gt;= CPL naming a present code segment whose DPL fits (equal, or &lt;= RPL if conforming), and not
    /// L and D together in long mode. #GP/#NP carry the selector.</summary>
    public SegmentDescriptor ReadReturnCodeSegment(ushort selector, out ulong address)
    {
        ref CpuState s = ref _cpu.State;
        if ((selector & 0xFFFC) == 0) _fault.Raise(Vector.GP, 0);
        int rpl = selector & 3;
        uint error = SelectorError(selector, 0);
        if (rpl < s.Cpl) _fault.Raise(Vector.GP, error);
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.GP, 0, out address);
        if (!d.IsCode) _fault.Raise(Vector.GP, error);
        if (d.IsConformingCode ? d.Dpl > rpl : d.Dpl != rpl) _fault.Raise(Vector.GP, error);
        if (!d.Present) _fault.Raise(Vector.NP, error);
        if (s.LongModeActive && d.Long && d.DefaultBig) _fault.Raise(Vector.GP, error);
        return d;
    }

    /// <summary>LTR: loads TR from an available TSS descriptor in the GDT and marks it busy.</summary>
    public void LoadTaskRegister(ushort selector)
    {
        ref CpuState s = ref _cpu.State;
        if (!s.ProtectedMode || s.Vm86Mode) _fault.Raise(Vector.UD, 0);
        if (s.Cpl != 0) _fault.Raise(Vector.GP, 0);
        if ((selector & 0xFFFC) == 0) _fault.Raise(Vector.GP, 0);
        uint error = SelectorError(selector, 0);
        if ((selector & 4) != 0) _fault.Raise(Vector.GP, error);
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.GP, 0, out ulong address);
        bool available = s.LongModeActive ? !d.CodeOrData && d.Type == SystemType.Tss32Available
            : !d.CodeOrData && d.Type is SystemType.Tss32Available or SystemType.Tss16Available;
        if (!available) _fault.Raise(Vector.GP, error);
        if (!d.Present) _fault.Raise(Vector.NP, error);
        if (s.LongModeActive) d = _descriptors.ReadSystem16(selector, d, Vector.GP, 0);
        if (s.LongModeActive && !LinearAddress.IsCanonical(d.Base64)) _fault.Raise(Vector.GP, error);
        _descriptors.SetBusy(address, d, true);
        s.Tr = d.ToSegment(selector, s.LongModeActive);
        s.Tr.Type |= 2;
    }

    /// <summary>LLDT: loads LDTR from an LDT descriptor in the GDT; a null selector leaves LDTR unusable.</summary>
    public void LoadLdtRegister(ushort selector)
    {
        ref CpuState s = ref _cpu.State;
        if (!s.ProtectedMode || s.Vm86Mode) _fault.Raise(Vector.UD, 0);
        if (s.Cpl != 0) _fault.Raise(Vector.GP, 0);
        if ((selector & 0xFFFC) == 0)
        {
            s.Ldtr = NullSegment(selector);
            return;
        }
        uint error = SelectorError(selector, 0);
        if ((selector & 4) != 0) _fault.Raise(Vector.GP, error);
        SegmentDescriptor d = _descriptors.ReadOrFault(selector, Vector.GP, 0, out _);
        if (d.CodeOrData || d.Type != SystemType.Ldt) _fault.Raise(Vector.GP, error);
        if (!d.Present) _fault.Raise(Vector.NP, error);
        if (s.LongModeActive) d = _descriptors.ReadSystem16(selector, d, Vector.GP, 0);
        if (s.LongModeActive && !LinearAddress.IsCanonical(d.Base64)) _fault.Raise(Vector.GP, error);
        s.Ldtr = d.ToSegment(selector, s.LongModeActive);
    }
}
