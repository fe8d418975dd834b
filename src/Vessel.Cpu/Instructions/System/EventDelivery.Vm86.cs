using Vessel.Hypervisor;
using static Vessel.Cpu.DescriptorTables;
using static Vessel.Cpu.HiddenSegments;
using static Vessel.Cpu.X86Cpu;

namespace Vessel.Cpu;

/// <summary>Virtual-8086 mode (SDM vol. 3 ch. 20) without the VME extensions (CPUID does not claim VME): real-mode
/// segments at CPL 3 inside protected mode. CLI, STI, PUSHF, POPF, INT n and IRET raise #GP(0) when IOPL &lt; 3;
/// interrupts and exceptions go through the IDT to a ring-0 handler, which gets GS, FS, DS, ES on its stack above
/// the usual frame and null data segments. Entry and exit are IRET's (<see cref="InterruptReturn"/>).</summary>
internal sealed partial class EventDelivery
{
    /// <summary>IOPL-sensitive instructions (PUSHF, POPF, INT n, IRET; CLI and STI check CPL against IOPL
    /// themselves) in virtual-8086 mode: #GP(0) below IOPL 3.</summary>
    public void CheckVm86Iopl(int ioPrivilegeLevel)
    {
        if (S.Vm86Mode && ioPrivilegeLevel < 3) _fault.Raise(Vector.GP, 0);
    }

    /// <summary>An interrupt or exception taken in virtual-8086 mode through a 32-bit interrupt or trap gate: the
    /// handler must be ring-0 non-conforming code (#GP with its selector otherwise, as for a 16-bit gate); the ring-0
    /// stack from the TSS gets GS, FS, DS, ES, SS, ESP, EFLAGS, CS, EIP and the error code; the data segments are
    /// null and VM, TF, NT, RF (and IF for an interrupt gate) clear.</summary>
    private void DeliverFromVm86(SegmentDescriptor gate, Segment target, int newCpl, bool inner, ulong rip,
        int vector, InterruptSource source, bool hasErrorCode, uint errorCode, uint ext)
    {
        ref CpuState s = ref S;
        uint targetError = SelectorError(target.Selector, ext);
        if (!inner || newCpl != 0 || (gate.Type & 8) == 0) _fault.Raise(Vector.GP, targetError);
        _tss.Stack32(0, ext, out ushort ssSelector, out ulong sp);
        Segment ss = _segments.CheckStackSegment(ssSelector, 0, Vector.TS, ext, false, out ulong ssAddress, out SegmentDescriptor ssDesc);
        _descriptors.MarkAccessed(ssAddress, ssDesc);
        uint ssError = SelectorError(ssSelector, ext);
        sp &= TransferSteps.StackMask(ss, false);
        ulong flags = FlagsToPush(vector, source);
        _steps.PushOn(ss, ref sp, 4, s.Seg[GS].Selector, false, false, ssError);
        _steps.PushOn(ss, ref sp, 4, s.Seg[FS].Selector, false, false, ssError);
        _steps.PushOn(ss, ref sp, 4, s.Seg[DS].Selector, false, false, ssError);
        _steps.PushOn(ss, ref sp, 4, s.Seg[ES].Selector, false, false, ssError);
        PushInterruptFrame(ss, ref sp, 4, true, false, false, ssError, flags, hasErrorCode, errorCode);

        for (int seg = ES; seg <= GS; seg++)
            if (seg is not (CS or SS)) s.Seg[seg] = NullSegment(0);
        s.Seg[SS] = ss;
        ClearFlagsForGate(gate.Type); // clears VM: the CPL and mode follow the new CS
        _steps.CommitCodeSegment(target, 0, rip);
        _steps.CommitStackPointer(sp, false);
    }
}
