using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>The integer instruction units this CPU holds (seeing it through <see cref="IntegerPort"/>), its locked
/// read-modify-writes and bulk strings, and what the stack and multiply units share with other tiers.</summary>
internal sealed partial class X86Cpu
{
    internal MultiplyDivideUnit<IntegerPort> MultiplyDivide { get; }
    internal BitUnit<IntegerPort> Bits { get; }
    internal NearBranchUnit<IntegerPort> Branches { get; }
    internal StackUnit<IntegerPort> StackInstructions { get; }
    internal StringUnit<IntegerPort> Strings { get; }
    internal ArithmeticUnit<IntegerPort> Arithmetic { get; }
    internal ShiftUnit<IntegerPort> Shifts { get; }
    internal DataMovementUnit<IntegerPort> Moves { get; }
    /// <summary>The atomic read-modify-writes of LOCKed instructions and XCHG with memory.</summary>
    internal LockedAccess Locked { get; }

    /// <summary>Locked instructions that ran under the VM's lock rather than as a host split lock.</summary>
    internal long SplitLockFallbacks => Locked.SplitLockFallbacks;
    /// <summary>REP MOVS and REP STOS run as host copies and fills where the TLBs allow.</summary>
    internal BulkStrings BulkStrings { get; }

    /// <summary>The low <paramref name="size"/> bytes of <paramref name="v"/>, sign-extended.</summary>
    internal static long SignExtend(ulong v, int size) => size switch
    {
        1 => (sbyte)v, 2 => (short)v, 4 => (int)v, _ => (long)v,
    };

    internal void SetMulFlags(ulong low, int size, bool overflow)
    {
        LazyFlags.MaterializeFlags(ref State);
        State.Rflags = (State.Rflags & ~Hypervisor.RflagsBits.Arithmetic) | LazyFlags.ResultFlags(low, size) | (overflow ? Cf | Of : 0);
    }

    internal void PopSegmentRegister(int seg, int size)
    {
        ulong sel = PeekStack(0, size);
        LoadSegmentRegister(seg, (ushort)sel);
        SetStackPointer(Gpr[4] + (ulong)size);
    }

    internal void LoadSegmentRegister(int seg, ushort selector)
    {
        _segments.Load(seg, selector);
        if (seg == SS) InterruptShadow = true;
        BlockEnded = true;
    }
}
