using System.Reflection;
using System.Reflection.Emit;
using Iced.Intel;
using Label = System.Reflection.Emit.Label;

namespace Vessel.Cpu;

/// <summary>Runs a compiled block on a vCPU.</summary>
internal delegate void CompiledBlock(X86Cpu cpu, ref CpuState state);

/// <summary>Compiles hot decoded blocks into IL (the .NET JIT then makes machine code of it). Register ALU,
/// moves, shifts, INC/DEC and branches are emitted inline, with flags stored only where a later reader needs
/// them; a branch to a later instruction of the block stays inside the compiled code, and a block that
/// branches back to its own start loops there (a bounded number of times). Every other instruction calls
/// back into the interpreter for just that instruction. The result does exactly what the interpreter does:
/// the tests run guests both ways and compare.</summary>
internal sealed partial class BlockCompiler
{
    /// <summary>Iterations a self-looping block runs inside one call, so interrupts and kicks are seen promptly.</summary>
    private const int LoopBudget = 256;

    private static readonly MethodInfo StepMethod = Method(nameof(X86Cpu.JitStep));
    private static readonly MethodInfo ConditionMethod = Method(nameof(X86Cpu.Condition));
    private static readonly MethodInfo JumpNearMethod = Method(nameof(X86Cpu.JumpNear));
    private static readonly MethodInfo KeepCarryMethod = Method(nameof(X86Cpu.JitKeepCarry));
    private static readonly MethodInfo MulFlagsMethod = Method(nameof(X86Cpu.JitMulFlags));
    private static readonly MethodInfo BigMulMethod = typeof(Math).GetMethod(nameof(Math.BigMul),
        [typeof(long), typeof(long), typeof(long).MakeByRefType()]) ?? throw new MissingMethodException(nameof(Math), nameof(Math.BigMul));
    private static readonly MethodInfo MemoryUnitGetter = typeof(X86Cpu).GetProperty(nameof(X86Cpu.MemoryUnit),
        BindingFlags.Instance | BindingFlags.NonPublic)?.GetMethod ?? throw new MissingMemberException(nameof(X86Cpu), nameof(X86Cpu.MemoryUnit));
    private static readonly FieldInfo ReadTlbField = typeof(Mmu).GetField(nameof(Mmu.Read))!;
    private static readonly FieldInfo WriteTlbField = typeof(Mmu).GetField(nameof(Mmu.Write))!;
    private static readonly MethodInfo ProbeMethod = typeof(Mmu).GetMethod(nameof(Mmu.Probe))!;

    // Compiled code: argument 1 is the vCPU, argument 2 a reference to its CpuState, addressed by offset.
    private const short StateArg = 2;

    private static MethodInfo Method(string name) =>
        typeof(X86Cpu).GetMethod(name, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
        ?? throw new MissingMethodException(nameof(X86Cpu), name);

    /// <summary>The flag producer whose operands sit in the a/b/r locals, for inline branch conditions.</summary>
    private enum Producer { Unknown, Sub, Add, Logic, IncDec, Shift }

    private readonly DecodedBlock _block;
    private readonly int _bitness;
    private readonly DynamicMethod _method;
    private readonly ILGenerator _il;
    private readonly LocalBuilder _a, _b, _r, _one, _retired, _carry;
    // Inline memory access (64-bit code): the linear address, the host pointer, the value loaded, the user bit
    // of TLB tags and the MMU's read and write TLBs.
    private readonly LocalBuilder _lin, _ptr, _mem, _userBit, _readTlb, _writeTlb;
    private readonly bool _inlineMemory;
    private readonly Label[] _instructionLabels;
    private readonly bool[] _isBranchTarget;
    private Label _loopTop;
    private LocalBuilder? _loopBudget;
    private Producer _producer;
    private int _producerSize;

    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("AotAnalysis", "IL3050",
        Justification = "Constructed only when Available says the runtime compiles dynamic code.")]
    private BlockCompiler(DecodedBlock block, int bitness)
    {
        _block = block;
        _bitness = bitness;
        _method = new DynamicMethod($"block_{block.StartRip:x}", typeof(void),
            [typeof(DecodedBlock), typeof(X86Cpu), typeof(CpuState).MakeByRefType()],
            typeof(X86Cpu), skipVisibility: true);
        _il = _method.GetILGenerator();
        _a = _il.DeclareLocal(typeof(ulong));
        _b = _il.DeclareLocal(typeof(ulong));
        _r = _il.DeclareLocal(typeof(ulong));
        _one = _il.DeclareLocal(typeof(ulong));
        _retired = _il.DeclareLocal(typeof(long));
        _carry = _il.DeclareLocal(typeof(ulong));
        _lin = _il.DeclareLocal(typeof(ulong));
        _ptr = _il.DeclareLocal(typeof(nint));
        _mem = _il.DeclareLocal(typeof(ulong));
        _userBit = _il.DeclareLocal(typeof(ulong));
        _readTlb = _il.DeclareLocal(typeof(Tlb));
        _writeTlb = _il.DeclareLocal(typeof(Tlb));
        _inlineMemory = bitness == 64;
        _instructionLabels = new Label[block.Count];
        _isBranchTarget = new bool[block.Count];
        for (int i = 0; i < block.Count; i++) _instructionLabels[i] = _il.DefineLabel();
    }

    /// <summary>Whether this runtime can compile blocks at all (a NativeAOT build cannot: it interprets).</summary>
    public static bool Available => System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeCompiled;

    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("AotAnalysis", "IL3050",
        Justification = "Called only when Available says the runtime compiles dynamic code.")]
    public static CompiledBlock Compile(DecodedBlock block, int bitness) => new BlockCompiler(block, bitness).Emit();

    /// <summary>What compiling <paramref name="block"/> costs in host memory, charged to the VM's code-cache budget:
    /// the dynamic method's objects, its IL and the native code the JIT makes of it. An estimate (the runtime does
    /// not report it per method), from the resident-set growth of compiling 4 096 blocks of 1 to 16 instructions:
    /// 21 MB, 5.2 KiB a block, 2.1 KiB of it on the managed heap.</summary>
    public static long EstimatedBytes(DecodedBlock block) => CompiledFixedBytes + CompiledBytesPerInstruction * (long)block.Count;

    private const long CompiledFixedBytes = 2048, CompiledBytesPerInstruction = 384;

    private ILGenerator IL => _il;

    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("AotAnalysis", "IL3050",
        Justification = "Runs only when Available says the runtime compiles dynamic code.")]
    private CompiledBlock Emit()
    {
        int count = _block.Count;
        FastOp[] ops = _block.FastOps;
        bool[] flagsLiveAfter = FlagLiveness(ops, count);
        FindInBlockTargets();

        IL.Emit(OpCodes.Ldc_I8, 1L);
        IL.Emit(OpCodes.Stloc, _one);
        if (_inlineMemory) EmitMemoryPrologue();
        EmitLoopTopIfSelfLoop();
        for (int i = 0; i < count; i++)
        {
            IL.MarkLabel(_instructionLabels[i]);
            if (_isBranchTarget[i]) _producer = Producer.Unknown; // two paths meet: the locals may hold either
            CountInstruction();
            EmitInstruction(i, last: i == count - 1, live: flagsLiveAfter[i]);
        }
        if (!ops[count - 1].Kind.IsBranch())
        {
            // The block ended without a branch (length limit, page end): continue after its last instruction.
            EmitSetRip(Mask(_block.Instructions[count - 1].NextIP));
            EmitLeave();
        }
        return (CompiledBlock)_method.CreateDelegate(typeof(CompiledBlock), _block);
    }

    /// <summary>A block whose closing branch jumps back to its own start loops inside the method, up to
    /// <see cref="LoopBudget"/> turns: this marks the loop's top and sets the budget.</summary>
    private void EmitLoopTopIfSelfLoop()
    {
        int count = _block.Count;
        ref Instruction closing = ref _block.Instructions[count - 1];
        if (_block.FastOps[count - 1].Kind is not (FastOpKind.Jcc or FastOpKind.Jmp) || closing.NearBranchTarget != _block.StartRip
            || (_bitness == 64 && !LinearAddress.IsCanonical(_block.StartRip)))
            return;
        _loopBudget = IL.DeclareLocal(typeof(int));
        _loopTop = IL.DefineLabel();
        IL.Emit(OpCodes.Ldc_I4, LoopBudget);
        IL.Emit(OpCodes.Stloc, _loopBudget);
        IL.MarkLabel(_loopTop);
    }

    /// <summary>The IL of instruction <paramref name="i"/>: inline for the fast shapes, a call back into the
    /// interpreter for the rest. <paramref name="live"/>: whether a later reader needs the flags it writes.</summary>
    private void EmitInstruction(int i, bool last, bool live)
    {
        FastOp[] ops = _block.FastOps;
        ref FastOp f = ref ops[i];
        ref Instruction ins = ref _block.Instructions[i];
        switch (f.Kind)
        {
            case FastOpKind.AluRegReg or FastOpKind.AluRegImm when (AluOperation)f.Operation is not (AluOperation.Adc or AluOperation.Sbb):
                EmitAlu(ref f, live);
                break;
            case FastOpKind.IncReg or FastOpKind.DecReg:
                EmitIncDec(ref f, live);
                break;
            case FastOpKind.MovRegReg:
            {
                int source = f.Source;
                EmitStoreGpr(f.Destination, () => EmitLoadGpr(source), f.Size);
                break;
            }
            case FastOpKind.MovRegImm:
            {
                ulong value = f.Size == 8 ? f.Immediate : (uint)f.Immediate;
                EmitStoreGpr(f.Destination, () => IL.Emit(OpCodes.Ldc_I8, (long)value), 8);
                break;
            }
            case FastOpKind.ShiftRegImm:
                EmitShift(ref f, live);
                break;
            case FastOpKind.Jcc:
                EmitConditionalBranch(ref f, ref ins, i, last);
                break;
            case FastOpKind.Jmp when last:
                EmitTakenBranch(ref ins, f.Immediate);
                break;
            case FastOpKind.Lea:
                EmitStoreGpr(f.Destination, () => EmitEffectiveAddress(ref ops[i]), f.Size);
                break;
            case FastOpKind.Nop:
                break;
            case FastOpKind.MovzxRegReg or FastOpKind.MovsxRegReg:
            {
                int source = f.Source, from = f.Operation;
                bool signed = f.Kind == FastOpKind.MovsxRegReg;
                EmitStoreGpr(f.Destination, () => { EmitLoadGpr(source); EmitExtend(from, signed); }, f.Size);
                break;
            }
            case FastOpKind.NotReg:
            {
                int d = f.Destination;
                EmitStoreGpr(d, () => { EmitLoadGpr(d); IL.Emit(OpCodes.Not); }, f.Size);
                break;
            }
            case FastOpKind.CmovRegReg:
                EmitCmov(ref f);
                break;
            case FastOpKind.ImulRegReg or FastOpKind.ImulRegRegImm:
                EmitImul(ref f, live);
                break;
            case FastOpKind.LoadReg or FastOpKind.LoadZeroExtend or FastOpKind.LoadSignExtend or FastOpKind.StoreReg or FastOpKind.StoreImm
                or FastOpKind.PushReg or FastOpKind.PopReg
                when _inlineMemory:
                EmitInlineMemory(ref f, ref ins, i, last);
                break;
            case FastOpKind.AluRegMem or FastOpKind.AluMemReg or FastOpKind.AluMemImm
                when _inlineMemory && (AluOperation)f.Operation is not (AluOperation.Adc or AluOperation.Sbb):
                EmitInlineMemoryAlu(ref f, ref ins, i, last, live);
                break;
            case FastOpKind.CallNear when _inlineMemory && LinearAddress.IsCanonical(f.Immediate):
                EmitInlineCall(ref f, ref ins, i);
                break;
            case FastOpKind.RetNear when _inlineMemory:
                EmitInlineRet(ref ins, i);
                break;
            default:
                EmitStep(ref ins, i, last);
                _producer = Producer.Unknown;
                break;
        }
    }

    /// <summary>Marks the instructions a Jcc of this block jumps forward to.</summary>
    private void FindInBlockTargets()
    {
        for (int i = 0; i < _block.Count - 1; i++)
        {
            if (_block.FastOps[i].Kind != FastOpKind.Jcc) continue;
            if (InBlockTarget(i) is int j) _isBranchTarget[j] = true;
        }
    }

    /// <summary>The index of the later instruction a Jcc at <paramref name="i"/> jumps to, if it is in the block.</summary>
    private int? InBlockTarget(int i)
    {
        ulong target = _block.FastOps[i].Immediate;
        for (int j = i + 1; j < _block.Count; j++)
            if (_block.Instructions[j].IP == target) return j;
        return null;
    }

    private ulong Mask(ulong ip) => _bitness switch { 64 => ip, 32 => (uint)ip, _ => (ushort)ip };

    /// <summary>Whether the flags an instruction writes can be read before they are overwritten: a backward
    /// pass; the block's end and every interpreter call-back read them all. Branches inside the block only go
    /// forward and every Jcc reads the flags, so the producer before a Jcc always stores them.</summary>
    private static bool[] FlagLiveness(FastOp[] ops, int count)
    {
        var liveAfter = new bool[count];
        bool live = true;
        for (int i = count - 1; i >= 0; i--)
        {
            liveAfter[i] = live;
            ref FastOp f = ref ops[i];
            switch (f.Kind)
            {
                case FastOpKind.AluRegReg or FastOpKind.AluRegImm when (AluOperation)f.Operation is not (AluOperation.Adc or AluOperation.Sbb):
                case FastOpKind.ShiftRegImm:
                case FastOpKind.ImulRegReg or FastOpKind.ImulRegRegImm:
                    live = false; // writes every arithmetic flag, reads none, cannot fault
                    break;
                case FastOpKind.IncReg or FastOpKind.DecReg:
                case FastOpKind.MovRegReg or FastOpKind.MovRegImm or FastOpKind.Jmp or FastOpKind.Lea or FastOpKind.NotReg:
                case FastOpKind.Nop or FastOpKind.MovzxRegReg or FastOpKind.MovsxRegReg:
                    break; // INC/DEC keep CF: whoever needed the flags still needs CF
                default:
                    // Jcc, CMOV, ADC/SBB and call-backs read flags; so does anything that may fault (memory
                    // access), since the exception pushes RFLAGS.
                    live = true;
                    break;
            }
        }
        return liveAfter;
    }

    private void CountInstruction()
    {
        IL.Emit(OpCodes.Ldloc, _retired);
        IL.Emit(OpCodes.Ldc_I8, 1L);
        IL.Emit(OpCodes.Add);
        IL.Emit(OpCodes.Stloc, _retired);
    }

    /// <summary>Adds the instructions run to the vCPU's count and returns.</summary>
    private void EmitLeave()
    {
        EmitStateAddress(CpuStateLayout.InstructionsRetired);
        IL.Emit(OpCodes.Dup);
        IL.Emit(OpCodes.Ldind_I8);
        IL.Emit(OpCodes.Ldloc, _retired);
        IL.Emit(OpCodes.Add);
        IL.Emit(OpCodes.Stind_I8);
        IL.Emit(OpCodes.Ret);
    }

    /// <summary>Pushes the address of the state block's field at <paramref name="offset"/>.</summary>
    private void EmitStateAddress(int offset)
    {
        IL.Emit(OpCodes.Ldarg_S, StateArg);
        if (offset == 0) return;
        IL.Emit(OpCodes.Ldc_I4, offset);
        IL.Emit(OpCodes.Add);
    }

    private void EmitLoadState64(int offset)
    {
        EmitStateAddress(offset);
        IL.Emit(OpCodes.Ldind_I8);
    }

    private void EmitLoadGpr(int index) => EmitLoadState64(CpuStateLayout.GprAt(index));

    /// <summary>gpr[index] = value (truncated to 32 bits, zero-extended, when <paramref name="size"/> is 4).</summary>
    private void EmitStoreGpr(int index, Action value, int size)
    {
        EmitStateAddress(CpuStateLayout.GprAt(index));
        value();
        EmitMaskTo(size);
        IL.Emit(OpCodes.Stind_I8);
    }

    private void EmitMaskTo(int size)
    {
        if (size != 4) return;
        IL.Emit(OpCodes.Conv_U4);
        IL.Emit(OpCodes.Conv_U8);
    }
}

internal static class FastOpKindExtensions
{
    public static bool IsBranch(this FastOpKind kind) => kind is FastOpKind.Jcc or FastOpKind.Jmp;
}
