using Vessel.Hypervisor;
using static Vessel.Cpu.X86Cpu;

namespace Vessel.Cpu;

/// <summary>The steps far transfers, interrupt delivery, IRET and the fast system calls share: committing a new
/// CS:RIP (and the mode it brings), checking a target offset, pushing onto a stack that is not yet SS:RSP, and
/// committing RSP after a stack switch.</summary>
internal sealed class TransferSteps
{
    private readonly ISystemCpu _cpu;
    private readonly CpuFault _fault;

    public TransferSteps(ISystemCpu cpu, CpuFault fault)
    {
        _cpu = cpu;
        _fault = fault;
    }

    private ref CpuState S => ref _cpu.State;

    /// <summary>Loads CS in real mode: the base is selector × 16, the rest of the hidden part stays.</summary>
    public void EnterRealModeCode(ushort selector, ulong offset)
    {
        ref CpuState s = ref S;
        s.Seg[CS].Selector = selector;
        s.Seg[CS].Base = (ulong)selector << 4;
        s.Rip = offset & 0xFFFF_FFFF;
        _cpu.UpdateMode();
    }

    /// <summary>Whether <paramref name="cs"/> runs in 64-bit mode once loaded.</summary>
    public bool Is64BitCode(in Segment cs) => S.LongModeActive && cs.Long;

    /// <summary>The instruction pointer a transfer into <paramref name="cs"/> ends at: #GP(0) beyond the limit
    /// (or non-canonical for 64-bit code).</summary>
    public ulong CheckTargetOffset(in Segment cs, ulong offset)
    {
        if (Is64BitCode(cs))
        {
            if (!LinearAddress.IsCanonical(offset)) _fault.Raise(Vector.GP, 0);
            return offset;
        }
        offset &= 0xFFFF_FFFF;
        if (offset > cs.Limit) _fault.Raise(Vector.GP, 0);
        return offset;
    }

    /// <summary>Commits a new CS (its RPL becomes <paramref name="cpl"/>) and RIP, and recomputes the mode.</summary>
    public void CommitCodeSegment(Segment cs, int cpl, ulong rip)
    {
        ref CpuState s = ref S;
        cs.Selector = (ushort)((cs.Selector & 0xFFFC) | cpl);
        // A conforming segment runs at the caller's privilege; the hidden DPL carries the CPL that UpdateMode derives.
        if ((cs.Type & 0xC) == 0xC) cs.Dpl = (byte)cpl;
        int bitness = s.LongModeActive && cs.Long ? 64 : cs.DefaultBig ? 32 : 16;
        bool sameMode = bitness == s.Bitness && cs.Dpl == s.Cpl;
        s.Seg[CS] = cs;
        s.Rip = rip;
        // Block links stay valid while the decode mode and privilege stay (kernel-to-kernel interrupts, IRETs).
        if (sameMode) _cpu.EndBlock();
        else _cpu.UpdateMode();
    }

    /// <summary>Linear address of a stack slot in <paramref name="ss"/>, which may not be loaded yet.</summary>
    private ulong StackSlotLinear(in Segment ss, ulong sp, int size, bool flat64, uint error)
    {
        if (flat64)
        {
            if (!LinearAddress.IsCanonical(sp)) _fault.Raise(Vector.SS, error);
            return sp;
        }
        if (ss.Unusable) _fault.Raise(Vector.SS, error);
        ulong last = sp + (ulong)size - 1;
        if ((ss.Type & 0xC) == 0x4)
        {
            ulong upper = ss.DefaultBig ? 0xFFFF_FFFFUL : 0xFFFFUL;
            if (sp <= ss.Limit || last > upper) _fault.Raise(Vector.SS, error);
        }
        else if (last > ss.Limit)
        {
            _fault.Raise(Vector.SS, error);
        }
        return (ss.Base + sp) & 0xFFFF_FFFF;
    }

    public static ulong StackMask(in Segment ss, bool flat64) =>
        flat64 ? ulong.MaxValue : ss.DefaultBig ? 0xFFFF_FFFFUL : 0xFFFFUL;

    /// <summary>Pushes onto a stack that is not (yet) SS:RSP, for transfers that switch stacks.</summary>
    public void PushOn(in Segment ss, ref ulong sp, int size, ulong value, bool flat64, bool user, uint error)
    {
        sp = (sp - (ulong)size) & StackMask(ss, flat64);
        _cpu.WriteLinear(StackSlotLinear(ss, sp, size, flat64, error), size, value, user);
    }

    /// <summary>Loads RSP after a stack switch: the width follows the new stack.</summary>
    public void CommitStackPointer(ulong sp, bool flat64)
    {
        ref CpuState s = ref S;
        if (flat64 || s.Seg[SS].DefaultBig) s.Gpr[4] = flat64 ? sp : (uint)sp;
        else s.Gpr[4] = (s.Gpr[4] & ~0xFFFFUL) | (sp & 0xFFFF);
    }

    /// <summary>Stack address size in bytes: 8 in 64-bit mode, else SS.B.</summary>
    public int StackAddressSize => S.Bitness == 64 ? 8 : S.Seg[SS].DefaultBig ? 4 : 2;
}
