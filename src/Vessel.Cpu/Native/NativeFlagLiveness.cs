using Iced.Intel;

namespace Vessel.Cpu.Native;

/// <summary>The arithmetic flags, as sets.</summary>
[Flags]
internal enum FlagSet : byte
{
    None = 0, Cf = 1, Pf = 2, Af = 4, Zf = 8, Sf = 16, Of = 32,
    All = Cf | Pf | Af | Zf | Sf | Of,
}

/// <summary>Which guest flags can still be read after each instruction of a block, flag by flag: a backward pass
/// over the block's instructions and its forward in-block branches. Every way out of the translated code (an exit, an
/// instruction handed to the interpreter, a memory access that may miss or fault, a branch back to the start) reads
/// them all: the exit stores them and a fault pushes them. A translator uses it to leave out work on flags nobody
/// reads: the interpreter's AF and OF after a shift, and IMUL where only CF and OF are read.</summary>
internal static class NativeFlagLiveness
{
    /// <summary>The flags IMUL leaves undefined (and the interpreter defines its own way).</summary>
    public const FlagSet ImulUndefined = FlagSet.Pf | FlagSet.Af | FlagSet.Zf | FlagSet.Sf;

    public static FlagSet[] LiveAfter(DecodedBlock block)
    {
        int count = block.Count;
        var liveAfter = new FlagSet[count];
        var liveBefore = new FlagSet[count];
        FlagSet live = FlagSet.All;
        for (int i = count - 1; i >= 0; i--)
        {
            ref FastOp f = ref block.FastOps[i];
            if (f.Kind == FastOpKind.Jcc)
                live |= InBlockTarget(block, i) is int target && i != count - 1 ? liveBefore[target] : FlagSet.All;
            liveAfter[i] = live;
            live = f.Kind == FastOpKind.Generic ? NativeRehostedLiveness.Before(ref block.Instructions[i], live) : Before(ref f, live);
            liveBefore[i] = live;
        }
        return liveAfter;
    }

    /// <summary>The index of the later instruction a Jcc at <paramref name="i"/> jumps to, if it is in the block.</summary>
    public static int? InBlockTarget(DecodedBlock block, int i)
    {
        ulong target = block.FastOps[i].Immediate;
        for (int j = i + 1; j < block.Count; j++)
            if (block.Instructions[j].IP == target) return j;
        return null;
    }

    private static FlagSet Before(ref FastOp f, FlagSet after)
    {
        switch (f.Kind)
        {
            case FastOpKind.AluRegReg or FastOpKind.AluRegImm:
                return (AluOperation)f.Operation is AluOperation.Adc or AluOperation.Sbb ? FlagSet.Cf : FlagSet.None;
            case FastOpKind.ShiftRegImm:
                return FlagSet.None;
            case FastOpKind.ImulRegReg or FastOpKind.ImulRegRegImm:
                return (after & ImulUndefined) == 0 ? FlagSet.None : FlagSet.All; // translated, or handed back
            case FastOpKind.IncReg or FastOpKind.DecReg:
                return after & FlagSet.Cf;
            case FastOpKind.MovRegReg or FastOpKind.MovRegImm or FastOpKind.Lea or FastOpKind.NotReg or FastOpKind.Nop
                or FastOpKind.MovzxRegReg or FastOpKind.MovsxRegReg:
                return after;
            case FastOpKind.CmovRegReg:
                return after | Reads((ConditionCode)f.Operation);
            case FastOpKind.Jcc:
                return after | Reads((ConditionCode)f.Operation);
            default:
                return FlagSet.All;
        }
    }

    /// <summary>The flags condition <paramref name="cc"/> reads.</summary>
    public static FlagSet Reads(ConditionCode cc) => cc switch
    {
        ConditionCode.o or ConditionCode.no => FlagSet.Of,
        ConditionCode.b or ConditionCode.ae => FlagSet.Cf,
        ConditionCode.e or ConditionCode.ne => FlagSet.Zf,
        ConditionCode.be or ConditionCode.a => FlagSet.Cf | FlagSet.Zf,
        ConditionCode.s or ConditionCode.ns => FlagSet.Sf,
        ConditionCode.p or ConditionCode.np => FlagSet.Pf,
        ConditionCode.l or ConditionCode.ge => FlagSet.Sf | FlagSet.Of,
        _ => FlagSet.Zf | FlagSet.Sf | FlagSet.Of,
    };
}
