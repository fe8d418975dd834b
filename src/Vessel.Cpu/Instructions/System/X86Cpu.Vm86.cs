using Vessel.Hypervisor;
using static Vessel.Hypervisor.RflagsBits;
using static Vessel.Cpu.DescriptorTables;
using static Vessel.Cpu.HiddenSegments;

namespace Vessel.Cpu;

/// <summary>Virtual-8086 mode (SDM vol. 3 ch. 20) without the VME extensions (CPUID does not claim VME): real-mode
/// segments at CPL 3 inside protected mode. Entered by IRET from ring 0 with VM set in the popped EFLAGS, or by a
/// task switch to a TSS whose EFLAGS has VM. CLI, STI, PUSHF, POPF, INT n and IRET raise #GP(0) when IOPL &lt; 3;
/// IN/OUT always consult the TSS I/O bitmap; interrupts and exceptions go through the IDT to a ring-0 handler,
/// which gets GS, FS, DS, ES on its stack above the usual frame and null data segments.</summary>
internal sealed partial class X86Cpu
{
    private bool Vm86Mode => State.Vm86Mode;

    /// <summary>IOPL-sensitive instructions (PUSHF, POPF, INT n, IRET; CLI and STI check CPL against IOPL
    /// themselves) in virtual-8086 mode: #GP(0) below IOPL 3.</summary>
    private void CheckVm86Iopl()
    {
        if (Vm86Mode && IoPrivilegeLevel < 3) Fault(Vector.GP, 0);
    }

    /// <summary>IRET inside virtual-8086 mode at IOPL 3 (InterruptReturn checks IOPL before popping anything): a
    /// real-mode IRET that cannot change IOPL (or VM).</summary>
    private void Vm86InterruptReturn(ulong ip, ushort selector, ulong flags, int size)
    {
        ulong realIp = ip & SizeMask(size);
        if (realIp > 0xFFFF) Fault(Vector.GP, 0);
        SetStackPointer(Gpr[4] + (ulong)(3 * size));
        RestoreFlags(flags, size, 3, 3);
        EnterRealModeCode(selector, realIp);
    }

    /// <summary>IRETD at CPL 0 with VM set in the popped EFLAGS: EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS from the
    /// stack, every segment loaded as in real mode, CPL 3.</summary>
    private void EnterVm86(ulong ip, ushort selector, ulong flags)
    {
        ulong esp = PeekStack(12, 4);
        Span<ushort> selectors = stackalloc ushort[6];
        selectors[SS] = (ushort)PeekStack(16, 4);
        selectors[ES] = (ushort)PeekStack(20, 4);
        selectors[DS] = (ushort)PeekStack(24, 4);
        selectors[FS] = (ushort)PeekStack(28, 4);
        selectors[GS] = (ushort)PeekStack(32, 4);
        selectors[CS] = selector;
        if ((ip & 0xFFFF_0000) != 0) Fault(Vector.GP, 0);
        SetRflags(flags);
        for (int s = ES; s <= GS; s++) Seg[s] = Vm86Segment(selectors[s]);
        Gpr[4] = (uint)esp;
        Rip = ip;
        UpdateMode();
    }

    /// <summary>An interrupt or exception taken in virtual-8086 mode through a 32-bit interrupt or trap gate: the
    /// handler must be ring-0 non-conforming code (#GP with its selector otherwise, as for a 16-bit gate); the ring-0
    /// stack from the TSS gets GS, FS, DS, ES, SS, ESP, EFLAGS, CS, EIP and the error code; the data segments are
    /// null and VM, TF, NT, RF (and IF for an interrupt gate) clear.</summary>
    private void DeliverFromVm86(SegmentDescriptor gate, Segment target, int newCpl, bool inner, ulong rip,
        int vector, InterruptSource source, bool hasErrorCode, uint errorCode, uint ext)
    {
        uint targetError = SelectorError(target.Selector, ext);
        if (!inner || newCpl != 0 || (gate.Type & 8) == 0) Fault(Vector.GP, targetError);
        ReadTssStack32(0, ext, out ushort ssSelector, out ulong sp);
        Segment ss = _segments.CheckStackSegment(ssSelector, 0, Vector.TS, ext, false, out ulong ssAddress, out SegmentDescriptor ssDesc);
        _descriptors.MarkAccessed(ssAddress, ssDesc);
        uint ssError = SelectorError(ssSelector, ext);
        sp &= StackMask(ss, false);
        ulong flags = FlagsToPush(vector, source);
        PushOn(ss, ref sp, 4, Seg[GS].Selector, false, false, ssError);
        PushOn(ss, ref sp, 4, Seg[FS].Selector, false, false, ssError);
        PushOn(ss, ref sp, 4, Seg[DS].Selector, false, false, ssError);
        PushOn(ss, ref sp, 4, Seg[ES].Selector, false, false, ssError);
        PushInterruptFrame(ss, ref sp, 4, true, false, false, ssError, flags, hasErrorCode, errorCode);

        for (int s = ES; s <= GS; s++)
            if (s is not (CS or SS)) Seg[s] = NullSegment(0);
        Seg[SS] = ss;
        ClearFlagsForGate(gate.Type); // clears VM: the CPL and mode follow the new CS
        CommitCodeSegment(target, 0, rip);
        CommitStackPointer(sp, false);
    }
}
