using static Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>The interpreter's side of compiled blocks: when to compile, and the entry points compiled code
/// calls back into.</summary>
internal sealed partial class X86Cpu
{
    internal const byte JitFlagOpAdd = (byte)FlagOp.Add, JitFlagOpSub = (byte)FlagOp.Sub, JitFlagOpLogic = (byte)FlagOp.Logic;
    internal const byte JitFlagOpInc = (byte)FlagOp.Inc, JitFlagOpDec = (byte)FlagOp.Dec, JitFlagOpShift = (byte)FlagOp.Shift;

    private readonly int _jitThreshold;
    private BlockHeat _heat;

    /// <summary>Runs the block compiled, compiling it once it has run often enough; false leaves it to the
    /// interpreter (not hot yet, not cacheable, or in an interrupt shadow).</summary>
    private bool TryRunCompiled(DecodedBlock block)
    {
        if (_nativeThreshold > 0 && block.Bitness == 64) return TryRunNative(block);
        if (block.Compiled is { } compiled)
        {
            _endBlock = false;
            if (EmuProfiler.Enabled) { ProfMode = (byte)ProfileMode.Compiled; Counters.BlocksCompiledRun++; }
            compiled(this, ref State);
            Prof(ProfileMode.Loop);
            return true;
        }
        if (_jitThreshold > 0 && block.Cacheable && _heat.CountRun(block, _jitThreshold))
        {
            long bytes = BlockCompiler.EstimatedBytes(block);
            if (!_machine.CodeCache.TryChargeDroppingFree(bytes))
            {
                // The budget is full of cached blocks: start afresh. Not this vCPU's cache now, while this block
                // runs from it: at its next lookup.
                _machine.CodeCache.FlushAll(this, flushRequesterNow: false);
                return false;
            }
            block.CompiledBytes = bytes;
            Prof(ProfileMode.Compile);
            if (EmuProfiler.Enabled) Counters.Compiles++;
            block.Compiled = BlockCompiler.Compile(block, Bitness);
            Prof(ProfileMode.Loop);
        }
        return false;
    }

    /// <summary>Interprets instruction <paramref name="index"/> of <paramref name="block"/> for compiled code,
    /// which has set RIP and the instruction start; true if the instruction ended the block.</summary>
    internal bool JitStep(DecodedBlock block, int index)
    {
        if (EmuProfiler.Enabled)
        {
            ProfMode = (byte)ProfileMode.CompiledStep;
            Counters.InstructionsCompiledStep++;
            StepsByCode[(int)block.Instructions[index].Code]++;
        }
        if (!ExecuteFast(ref block.FastOps[index])) Execute(ref block.Instructions[index]);
        Prof(ProfileMode.Compiled);
        return _endBlock;
    }

    /// <summary>What INC/DEC do before recording their flags: CF survives them.</summary>
    internal void JitKeepCarry()
    {
        bool cf = GetCf();
        _rflags = cf ? _rflags | Cf : _rflags & ~Cf;
    }
}
