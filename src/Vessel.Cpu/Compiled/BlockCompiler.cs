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
internal sealed class BlockCompiler
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
    private static readonly MethodInfo TlbReadGetter = Getter(nameof(X86Cpu.TlbRead));
    private static readonly MethodInfo TlbWriteGetter = Getter(nameof(X86Cpu.TlbWrite));
    private static readonly FieldInfo TlbEntriesField = typeof(Tlb).GetField(nameof(Tlb.E))!;
    private static readonly FieldInfo TlbTagField = typeof(TlbEntry).GetField(nameof(TlbEntry.Tag))!;
    private static readonly FieldInfo TlbDeltaField = typeof(TlbEntry).GetField(nameof(TlbEntry.Delta))!;

    private static MethodInfo Getter(string property) =>
        typeof(X86Cpu).GetProperty(property, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)?.GetMethod
        ?? throw new MissingMemberException(nameof(X86Cpu), property);

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
    // Inline memory access (64-bit code): the linear address, the TLB entry hit, the host pointer, the value
    // loaded, the user bit of TLB tags and the read and write TLBs' entry arrays.
    private readonly LocalBuilder _lin, _entry, _ptr, _mem, _userBit, _readTlb, _writeTlb;
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
        _entry = _il.DeclareLocal(typeof(TlbEntry).MakeByRefType());
        _ptr = _il.DeclareLocal(typeof(nint));
        _mem = _il.DeclareLocal(typeof(ulong));
        _userBit = _il.DeclareLocal(typeof(ulong));
        _readTlb = _il.DeclareLocal(typeof(TlbEntry[]));
        _writeTlb = _il.DeclareLocal(typeof(TlbEntry[]));
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
        ref Instruction closing = ref _block.Instructions[count - 1];
        if (ops[count - 1].Kind is FastOpKind.Jcc or FastOpKind.Jmp && closing.NearBranchTarget == _block.StartRip
            && (_bitness != 64 || IsCanonical(_block.StartRip)))
        {
            _loopBudget = IL.DeclareLocal(typeof(int));
            _loopTop = IL.DefineLabel();
            IL.Emit(OpCodes.Ldc_I4, LoopBudget);
            IL.Emit(OpCodes.Stloc, _loopBudget);
            IL.MarkLabel(_loopTop);
        }

        for (int i = 0; i < count; i++)
        {
            ref FastOp f = ref ops[i];
            ref Instruction ins = ref _block.Instructions[i];
            bool last = i == count - 1;
            bool live = flagsLiveAfter[i];
            IL.MarkLabel(_instructionLabels[i]);
            if (_isBranchTarget[i]) _producer = Producer.Unknown; // two paths meet: the locals may hold either
            CountInstruction();
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
                case FastOpKind.CallNear when _inlineMemory && IsCanonical(f.Immediate):
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
        if (!ops[count - 1].Kind.IsBranch())
        {
            // The block ended without a branch (length limit, page end): continue after its last instruction.
            EmitSetRip(Mask(closing.NextIP));
            EmitLeave();
        }
        return (CompiledBlock)_method.CreateDelegate(typeof(CompiledBlock), _block);
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

    private static bool IsCanonical(ulong address) => (ulong)(((long)address << 16) >> 16) == address;

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

    private void EmitAlu(ref FastOp f, bool live)
    {
        int d = f.Destination, source = f.Source;
        long imm = (long)f.Immediate;
        Action loadB = f.Kind == FastOpKind.AluRegReg ? () => EmitLoadGpr(source) : () => IL.Emit(OpCodes.Ldc_I8, imm);
        EmitAluCore((AluOperation)f.Operation, f.Size, () => EmitLoadGpr(d), loadB, live,
            () => EmitStoreGpr(d, () => IL.Emit(OpCodes.Ldloc, _r), 8));
    }

    /// <summary>a = loadA, b = loadB (masked to the size), r = a op b; storeResult unless CMP/TEST; the flags
    /// recorded lazily when live, and the producer noted for inline conditions.</summary>
    private void EmitAluCore(AluOperation op, int size, Action loadA, Action loadB, bool live, Action storeResult)
    {
        loadA();
        EmitMaskTo(size);
        IL.Emit(OpCodes.Stloc, _a);
        loadB();
        EmitMaskTo(size);
        IL.Emit(OpCodes.Stloc, _b);
        IL.Emit(OpCodes.Ldloc, _a);
        IL.Emit(OpCodes.Ldloc, _b);
        IL.Emit(op switch
        {
            AluOperation.Add => OpCodes.Add,
            AluOperation.Sub or AluOperation.Cmp => OpCodes.Sub,
            AluOperation.And or AluOperation.Test => OpCodes.And,
            AluOperation.Or => OpCodes.Or,
            _ => OpCodes.Xor,
        });
        EmitMaskTo(size);
        IL.Emit(OpCodes.Stloc, _r);
        if (op is not (AluOperation.Cmp or AluOperation.Test)) storeResult();
        _producer = op switch
        {
            AluOperation.Sub or AluOperation.Cmp => Producer.Sub,
            AluOperation.Add => Producer.Add,
            _ => Producer.Logic,
        };
        _producerSize = size;
        if (!live) return;
        bool logic = _producer == Producer.Logic;
        byte flagOp = _producer switch
        {
            Producer.Add => X86Cpu.JitFlagOpAdd,
            Producer.Sub => X86Cpu.JitFlagOpSub,
            _ => X86Cpu.JitFlagOpLogic,
        };
        EmitStoreFlags(flagOp, size, logic ? null : _a, logic ? null : _b);
    }

    private void EmitStoreFlags(byte flagOp, int size, LocalBuilder? a, LocalBuilder? b)
    {
        EmitStateAddress(CpuStateLayout.FlagOp);
        IL.Emit(OpCodes.Ldc_I4, (int)flagOp);
        IL.Emit(OpCodes.Stind_I1);
        EmitStateAddress(CpuStateLayout.FlagSize);
        IL.Emit(OpCodes.Ldc_I4, size);
        IL.Emit(OpCodes.Stind_I4);
        EmitStateAddress(CpuStateLayout.FlagA);
        if (a is null) IL.Emit(OpCodes.Ldc_I8, 0L); else IL.Emit(OpCodes.Ldloc, a);
        IL.Emit(OpCodes.Stind_I8);
        EmitStateAddress(CpuStateLayout.FlagB);
        if (b is null) IL.Emit(OpCodes.Ldc_I8, 0L); else IL.Emit(OpCodes.Ldloc, b);
        IL.Emit(OpCodes.Stind_I8);
        EmitStateAddress(CpuStateLayout.FlagResult);
        IL.Emit(OpCodes.Ldloc, _r);
        IL.Emit(OpCodes.Stind_I8);
    }

    private void EmitIncDec(ref FastOp f, bool live)
    {
        bool inc = f.Kind == FastOpKind.IncReg;
        if (live)
        {
            IL.Emit(OpCodes.Ldarg_1);
            IL.Emit(OpCodes.Call, KeepCarryMethod);
        }
        EmitLoadGpr(f.Destination);
        IL.Emit(OpCodes.Stloc, _a);
        IL.Emit(OpCodes.Ldloc, _a);
        IL.Emit(OpCodes.Ldc_I8, 1L);
        IL.Emit(inc ? OpCodes.Add : OpCodes.Sub);
        EmitMaskTo(f.Size);
        IL.Emit(OpCodes.Stloc, _r);
        EmitStoreGpr(f.Destination, () => IL.Emit(OpCodes.Ldloc, _r), 8);
        _producer = Producer.IncDec;
        _producerSize = f.Size;
        // As the interpreter records INC/DEC: A = the old value, B = 1; flag evaluation masks to the size.
        if (live) EmitStoreFlags(inc ? X86Cpu.JitFlagOpInc : X86Cpu.JitFlagOpDec, f.Size, _a, _one);
    }

    /// <summary>SHL/SHR/SAR by a non-zero immediate: the result; with live flags, CF and OF into RFLAGS and
    /// ZF/SF/PF left lazy on the result, as the interpreter's fast shift does.</summary>
    private void EmitShift(ref FastOp f, bool live)
    {
        int size = f.Size, count = (int)f.Immediate, bits = size * 8;
        var op = (ShiftOperation)f.Operation;
        ulong sign = size == 8 ? 1UL << 63 : 1UL << 31;
        EmitLoadGpr(f.Destination);
        if (op == ShiftOperation.Sar && size == 4) { IL.Emit(OpCodes.Conv_I4); IL.Emit(OpCodes.Conv_I8); }
        else EmitMaskTo(size);
        IL.Emit(OpCodes.Stloc, _a);
        IL.Emit(OpCodes.Ldloc, _a);
        IL.Emit(OpCodes.Ldc_I4, count);
        IL.Emit(op switch { ShiftOperation.Shl => OpCodes.Shl, ShiftOperation.Shr => OpCodes.Shr_Un, _ => OpCodes.Shr });
        EmitMaskTo(size);
        IL.Emit(OpCodes.Stloc, _r);
        int index = f.Destination;
        EmitStoreGpr(index, () => IL.Emit(OpCodes.Ldloc, _r), 8);
        _producer = Producer.Shift;
        _producerSize = size;
        // CF: the last bit shifted out.
        IL.Emit(OpCodes.Ldloc, _a);
        IL.Emit(OpCodes.Ldc_I4, op == ShiftOperation.Shl ? bits - count : count - 1);
        IL.Emit(OpCodes.Shr_Un);
        IL.Emit(OpCodes.Ldc_I8, 1L);
        IL.Emit(OpCodes.And);
        IL.Emit(OpCodes.Stloc, _carry);
        if (!live) return;
        // RFLAGS = (RFLAGS & ~arithmetic) | CF | OF
        EmitStateAddress(CpuStateLayout.Rflags);
        EmitLoadState64(CpuStateLayout.Rflags);
        IL.Emit(OpCodes.Ldc_I8, unchecked((long)~Hypervisor.RflagsBits.Arithmetic));
        IL.Emit(OpCodes.And);
        IL.Emit(OpCodes.Ldloc, _carry); // CF is bit 0
        IL.Emit(OpCodes.Or);
        switch (op)
        {
            case ShiftOperation.Shl: // OF = top bit of the result XOR CF
                IL.Emit(OpCodes.Ldloc, _r);
                IL.Emit(OpCodes.Ldc_I4, bits - 1);
                IL.Emit(OpCodes.Shr_Un);
                IL.Emit(OpCodes.Ldloc, _carry);
                IL.Emit(OpCodes.Xor);
                IL.Emit(OpCodes.Ldc_I8, 1L);
                IL.Emit(OpCodes.And);
                IL.Emit(OpCodes.Ldc_I4, 11);
                IL.Emit(OpCodes.Shl);
                IL.Emit(OpCodes.Or);
                break;
            case ShiftOperation.Shr: // OF = the operand's top bit
                IL.Emit(OpCodes.Ldloc, _a);
                IL.Emit(OpCodes.Ldc_I8, (long)sign);
                IL.Emit(OpCodes.And);
                IL.Emit(OpCodes.Ldc_I4, bits - 1 - 11);
                IL.Emit(OpCodes.Shr_Un);
                IL.Emit(OpCodes.Or);
                break;
        }
        IL.Emit(OpCodes.Stind_I8);
        EmitStoreFlags(X86Cpu.JitFlagOpShift, size, null, null);
    }

    private void EmitSetRip(ulong value)
    {
        EmitStateAddress(CpuStateLayout.Rip);
        IL.Emit(OpCodes.Ldc_I8, (long)value);
        IL.Emit(OpCodes.Stind_I8);
    }

    private void EmitSetInstructionStart(ulong ip)
    {
        EmitStateAddress(CpuStateLayout.InstructionStart);
        IL.Emit(OpCodes.Ldc_I8, (long)Mask(ip));
        IL.Emit(OpCodes.Stind_I8);
    }

    /// <summary>Calls the interpreter for instruction <paramref name="index"/>; leaves the block if it ended it.</summary>
    private void EmitStep(ref Instruction ins, int index, bool last)
    {
        EmitSetInstructionStart(ins.IP);
        EmitSetRip(Mask(ins.NextIP));
        IL.Emit(OpCodes.Ldarg_1);
        IL.Emit(OpCodes.Ldarg_0);
        IL.Emit(OpCodes.Ldc_I4, index);
        IL.Emit(OpCodes.Call, StepMethod);
        if (last)
        {
            IL.Emit(OpCodes.Pop);
            EmitLeave();
            return;
        }
        Label go = IL.DefineLabel();
        IL.Emit(OpCodes.Brfalse, go);
        EmitLeave();
        IL.MarkLabel(go);
    }

    /// <summary>A taken branch to <paramref name="target"/>: loops when it is the block's own start, else sets RIP
    /// (directly for a canonical 64-bit target, through JumpNear's checks otherwise) and leaves.</summary>
    private void EmitTakenBranch(ref Instruction ins, ulong target)
    {
        if (_loopBudget is not null && target == _block.StartRip)
        {
            IL.Emit(OpCodes.Ldloc, _loopBudget);
            IL.Emit(OpCodes.Ldc_I4_1);
            IL.Emit(OpCodes.Sub);
            IL.Emit(OpCodes.Dup);
            IL.Emit(OpCodes.Stloc, _loopBudget);
            IL.Emit(OpCodes.Brtrue, _loopTop);
            EmitSetRip(target);
            EmitLeave();
            return;
        }
        if (_bitness == 64 && IsCanonical(target))
        {
            EmitSetRip(target);
        }
        else
        {
            EmitSetInstructionStart(ins.IP);
            EmitSetRip(Mask(ins.NextIP)); // where a fault in JumpNear expects RIP, as in the interpreter
            IL.Emit(OpCodes.Ldarg_1);
            IL.Emit(OpCodes.Ldc_I8, (long)target);
            IL.Emit(OpCodes.Call, JumpNearMethod);
        }
        EmitLeave();
    }

    /// <summary>A Jcc: taken, it jumps inside the block or leaves it; not taken, it falls through (the last
    /// instruction leaves with RIP after it).</summary>
    private void EmitConditionalBranch(ref FastOp f, ref Instruction ins, int index, bool last)
    {
        var cc = (ConditionCode)f.Operation;
        if (!EmitInlineCondition(cc))
        {
            IL.Emit(OpCodes.Ldarg_1);
            IL.Emit(OpCodes.Ldc_I4, (int)cc);
            IL.Emit(OpCodes.Call, ConditionMethod);
        }
        if (!last && InBlockTarget(index) is int target)
        {
            IL.Emit(OpCodes.Brtrue, _instructionLabels[target]);
            return;
        }
        Label notTaken = IL.DefineLabel();
        IL.Emit(OpCodes.Brfalse, notTaken);
        EmitTakenBranch(ref ins, f.Immediate);
        IL.MarkLabel(notTaken);
        if (!last) return;
        EmitSetRip(Mask(ins.NextIP));
        EmitLeave();
    }

    /// <summary>Pushes the branch condition computed from the producer's operands, or returns false.</summary>
    private bool EmitInlineCondition(ConditionCode cc)
    {
        if (_producer == Producer.Unknown) return false;
        ulong sign = _producerSize == 8 ? 1UL << 63 : 1UL << 31;
        switch (cc)
        {
            case ConditionCode.e or ConditionCode.ne:
                IL.Emit(OpCodes.Ldloc, _r);
                IL.Emit(OpCodes.Ldc_I8, 0L);
                IL.Emit(OpCodes.Ceq);
                if (cc == ConditionCode.ne) { IL.Emit(OpCodes.Ldc_I4_0); IL.Emit(OpCodes.Ceq); }
                return true;
            case ConditionCode.s or ConditionCode.ns:
                IL.Emit(OpCodes.Ldloc, _r);
                IL.Emit(OpCodes.Ldc_I8, (long)sign);
                IL.Emit(OpCodes.And);
                IL.Emit(OpCodes.Ldc_I8, 0L);
                IL.Emit(OpCodes.Ceq);
                if (cc == ConditionCode.s) { IL.Emit(OpCodes.Ldc_I4_0); IL.Emit(OpCodes.Ceq); }
                return true;
        }
        if (_producer == Producer.Shift && cc is ConditionCode.b or ConditionCode.ae)
        {
            IL.Emit(OpCodes.Ldloc, _carry);
            IL.Emit(OpCodes.Ldc_I8, 0L);
            IL.Emit(cc == ConditionCode.b ? OpCodes.Cgt_Un : OpCodes.Ceq);
            return true;
        }
        if (_producer != Producer.Sub) return false;
        // a and b hold the operands masked to the operand size; signed compares sign-extend them first.
        bool signed = cc is ConditionCode.l or ConditionCode.ge or ConditionCode.le or ConditionCode.g;
        if (!signed && cc is not (ConditionCode.b or ConditionCode.ae or ConditionCode.be or ConditionCode.a)) return false;
        EmitCompareOperand(_a, signed);
        EmitCompareOperand(_b, signed);
        switch (cc)
        {
            case ConditionCode.b: IL.Emit(OpCodes.Clt_Un); break;
            case ConditionCode.a: IL.Emit(OpCodes.Cgt_Un); break;
            case ConditionCode.ae: IL.Emit(OpCodes.Clt_Un); IL.Emit(OpCodes.Ldc_I4_0); IL.Emit(OpCodes.Ceq); break;
            case ConditionCode.be: IL.Emit(OpCodes.Cgt_Un); IL.Emit(OpCodes.Ldc_I4_0); IL.Emit(OpCodes.Ceq); break;
            case ConditionCode.l: IL.Emit(OpCodes.Clt); break;
            case ConditionCode.g: IL.Emit(OpCodes.Cgt); break;
            case ConditionCode.ge: IL.Emit(OpCodes.Clt); IL.Emit(OpCodes.Ldc_I4_0); IL.Emit(OpCodes.Ceq); break;
            default: IL.Emit(OpCodes.Cgt); IL.Emit(OpCodes.Ldc_I4_0); IL.Emit(OpCodes.Ceq); break;
        }
        return true;
    }

    // ---------------------------------------------------------------- inline forms without memory

    /// <summary>Pushes the effective address of a memory fast form (no segment base), masked to its address size.</summary>
    private void EmitEffectiveAddress(ref FastOp f)
    {
        IL.Emit(OpCodes.Ldc_I8, (long)f.Displacement);
        if (f.MemoryBase != FastOp.NoRegister)
        {
            EmitLoadGpr(f.MemoryBase);
            IL.Emit(OpCodes.Add);
        }
        if (f.MemoryIndex != FastOp.NoRegister)
        {
            EmitLoadGpr(f.MemoryIndex);
            if (f.MemoryScaleShift != 0)
            {
                IL.Emit(OpCodes.Ldc_I4, (int)f.MemoryScaleShift);
                IL.Emit(OpCodes.Shl);
            }
            IL.Emit(OpCodes.Add);
        }
        if (f.AddressMask != ulong.MaxValue)
        {
            IL.Emit(OpCodes.Conv_U4);
            IL.Emit(OpCodes.Conv_U8);
        }
    }

    /// <summary>Zero- or sign-extends the low <paramref name="from"/> bytes of the ulong on the stack to 64 bits.</summary>
    private void EmitExtend(int from, bool signed)
    {
        switch (from)
        {
            case 1: IL.Emit(signed ? OpCodes.Conv_I1 : OpCodes.Conv_U1); break;
            case 2: IL.Emit(signed ? OpCodes.Conv_I2 : OpCodes.Conv_U2); break;
            case 4: IL.Emit(signed ? OpCodes.Conv_I4 : OpCodes.Conv_U4); break;
            default: return;
        }
        IL.Emit(signed ? OpCodes.Conv_I8 : OpCodes.Conv_U8);
    }

    /// <summary>CMOVcc reg, reg: the condition from the producer's locals where possible. The 32-bit form zeroes
    /// the destination's upper half even when it does not move.</summary>
    private void EmitCmov(ref FastOp f)
    {
        var cc = (ConditionCode)f.Operation;
        if (!EmitInlineCondition(cc))
        {
            IL.Emit(OpCodes.Ldarg_1);
            IL.Emit(OpCodes.Ldc_I4, (int)cc);
            IL.Emit(OpCodes.Call, ConditionMethod);
        }
        Label keep = IL.DefineLabel(), done = IL.DefineLabel();
        IL.Emit(OpCodes.Brfalse, keep);
        int source = f.Source, destination = f.Destination;
        EmitStoreGpr(destination, () => EmitLoadGpr(source), f.Size);
        IL.Emit(OpCodes.Br, done);
        IL.MarkLabel(keep);
        if (f.Size == 4) EmitStoreGpr(destination, () => EmitLoadGpr(destination), 4);
        IL.MarkLabel(done);
    }

    /// <summary>IMUL dst, src[, imm]: the truncated product; with live flags, CF/OF from the full product and
    /// ZF/SF/PF from the result, through the interpreter's SetMulFlags.</summary>
    private void EmitImul(ref FastOp f, bool live)
    {
        int size = f.Size;
        EmitLoadGpr(f.Source);
        if (size == 4) { IL.Emit(OpCodes.Conv_I4); IL.Emit(OpCodes.Conv_I8); }
        IL.Emit(OpCodes.Stloc, _a);
        if (f.Kind == FastOpKind.ImulRegRegImm)
            IL.Emit(OpCodes.Ldc_I8, size == 4 ? (long)(int)f.Immediate : (long)f.Immediate);
        else
        {
            EmitLoadGpr(f.Destination);
            if (size == 4) { IL.Emit(OpCodes.Conv_I4); IL.Emit(OpCodes.Conv_I8); }
        }
        IL.Emit(OpCodes.Stloc, _b);
        // The low 64 bits of the product (exact for 32-bit operands).
        IL.Emit(OpCodes.Ldloc, _a);
        IL.Emit(OpCodes.Ldloc, _b);
        IL.Emit(OpCodes.Mul);
        IL.Emit(OpCodes.Stloc, _r);
        EmitStoreGpr(f.Destination, () => IL.Emit(OpCodes.Ldloc, _r), size);
        _producer = Producer.Unknown;
        if (!live) return;
        IL.Emit(OpCodes.Ldarg_1);
        IL.Emit(OpCodes.Ldloc, _r);
        IL.Emit(OpCodes.Ldc_I4, size);
        if (size == 4)
        {
            // overflow: the product does not fit in 32 signed bits
            IL.Emit(OpCodes.Ldloc, _r);
            IL.Emit(OpCodes.Ldloc, _r);
            IL.Emit(OpCodes.Conv_I4);
            IL.Emit(OpCodes.Conv_I8);
            IL.Emit(OpCodes.Ceq);
            IL.Emit(OpCodes.Ldc_I4_0);
            IL.Emit(OpCodes.Ceq);
        }
        else
        {
            // overflow: the high half is not the sign extension of the low half
            IL.Emit(OpCodes.Ldloc, _a);
            IL.Emit(OpCodes.Ldloc, _b);
            IL.Emit(OpCodes.Ldloca, _carry); // scratch for the low half
            IL.Emit(OpCodes.Call, BigMulMethod);
            IL.Emit(OpCodes.Ldloc, _r);
            IL.Emit(OpCodes.Ldc_I4, 63);
            IL.Emit(OpCodes.Shr);
            IL.Emit(OpCodes.Ceq);
            IL.Emit(OpCodes.Ldc_I4_0);
            IL.Emit(OpCodes.Ceq);
        }
        IL.Emit(OpCodes.Call, MulFlagsMethod);
    }

    // ---------------------------------------------------------------- inline memory access (64-bit code)
    //
    // A load or store whose page the vCPU's TLB already maps to host RAM (and, for the write TLB, to a page
    // that is writable and holds no decoded code) is done right here; anything else -- a TLB miss, a page
    // crossing, MMIO, a fault -- runs the instruction through the interpreter as before. A tag match also
    // proves the address canonical: the TLB is only filled from canonical addresses.

    private void EmitMemoryPrologue()
    {
        EmitStateAddress(CpuStateLayout.Cpl);
        IL.Emit(OpCodes.Ldind_I4);
        IL.Emit(OpCodes.Ldc_I4_3);
        IL.Emit(OpCodes.Ceq);
        IL.Emit(OpCodes.Conv_U8);
        IL.Emit(OpCodes.Stloc, _userBit);
        IL.Emit(OpCodes.Ldarg_1);
        IL.Emit(OpCodes.Call, TlbReadGetter);
        IL.Emit(OpCodes.Ldfld, TlbEntriesField);
        IL.Emit(OpCodes.Stloc, _readTlb);
        IL.Emit(OpCodes.Ldarg_1);
        IL.Emit(OpCodes.Call, TlbWriteGetter);
        IL.Emit(OpCodes.Ldfld, TlbEntriesField);
        IL.Emit(OpCodes.Stloc, _writeTlb);
    }

    /// <summary>_lin = the linear address of the fast form's memory operand (FS/GS add their base in 64-bit mode).</summary>
    private void EmitLinear(ref FastOp f)
    {
        EmitEffectiveAddress(ref f);
        if (f.MemorySegment >= X86Cpu.FS)
        {
            EmitLoadState64(CpuStateLayout.SegmentBaseAt(f.MemorySegment));
            IL.Emit(OpCodes.Add);
        }
        IL.Emit(OpCodes.Stloc, _lin);
    }

    /// <summary>Looks _lin up in a TLB for an access of <paramref name="size"/> bytes: on a hit inside one page,
    /// _ptr is the host address; otherwise control goes to <paramref name="miss"/>.</summary>
    private void EmitProbe(LocalBuilder tlb, int size, Label miss)
    {
        if (size > 1)
        {
            IL.Emit(OpCodes.Ldloc, _lin);
            IL.Emit(OpCodes.Ldc_I8, 0xFFFL);
            IL.Emit(OpCodes.And);
            IL.Emit(OpCodes.Ldc_I8, (long)(4096 - size));
            IL.Emit(OpCodes.Bgt_Un, miss);
        }
        IL.Emit(OpCodes.Ldloc, tlb);
        IL.Emit(OpCodes.Ldloc, _lin);
        IL.Emit(OpCodes.Ldc_I4, 12);
        IL.Emit(OpCodes.Shr_Un);
        IL.Emit(OpCodes.Conv_I4);
        IL.Emit(OpCodes.Ldc_I4, Tlb.Entries - 1);
        IL.Emit(OpCodes.And);
        IL.Emit(OpCodes.Ldelema, typeof(TlbEntry));
        IL.Emit(OpCodes.Stloc, _entry);
        IL.Emit(OpCodes.Ldloc, _entry);
        IL.Emit(OpCodes.Ldfld, TlbTagField);
        IL.Emit(OpCodes.Ldloc, _lin);
        IL.Emit(OpCodes.Ldc_I8, ~0xFFFL);
        IL.Emit(OpCodes.And);
        IL.Emit(OpCodes.Ldloc, _userBit);
        IL.Emit(OpCodes.Or);
        IL.Emit(OpCodes.Bne_Un, miss);
        IL.Emit(OpCodes.Ldloc, _lin);
        IL.Emit(OpCodes.Ldloc, _entry);
        IL.Emit(OpCodes.Ldfld, TlbDeltaField);
        IL.Emit(OpCodes.Add);
        IL.Emit(OpCodes.Conv_U);
        IL.Emit(OpCodes.Stloc, _ptr);
    }

    /// <summary>Pushes the <paramref name="size"/>-byte value at _ptr, zero-extended to 64 bits.</summary>
    private void EmitLoadPtr(int size)
    {
        IL.Emit(OpCodes.Ldloc, _ptr);
        if (size > 1) IL.Emit(OpCodes.Unaligned, (byte)1);
        switch (size)
        {
            case 1: IL.Emit(OpCodes.Ldind_U1); IL.Emit(OpCodes.Conv_U8); break;
            case 2: IL.Emit(OpCodes.Ldind_U2); IL.Emit(OpCodes.Conv_U8); break;
            case 4: IL.Emit(OpCodes.Ldind_U4); IL.Emit(OpCodes.Conv_U8); break;
            default: IL.Emit(OpCodes.Ldind_I8); break;
        }
    }

    /// <summary>Stores the low <paramref name="size"/> bytes of what <paramref name="value"/> pushes at _ptr.</summary>
    private void EmitStorePtr(int size, Action value)
    {
        IL.Emit(OpCodes.Ldloc, _ptr);
        value();
        switch (size)
        {
            case 1: IL.Emit(OpCodes.Conv_U1); IL.Emit(OpCodes.Stind_I1); break;
            case 2: IL.Emit(OpCodes.Conv_U2); IL.Emit(OpCodes.Unaligned, (byte)1); IL.Emit(OpCodes.Stind_I2); break;
            case 4: IL.Emit(OpCodes.Conv_U4); IL.Emit(OpCodes.Unaligned, (byte)1); IL.Emit(OpCodes.Stind_I4); break;
            default: IL.Emit(OpCodes.Unaligned, (byte)1); IL.Emit(OpCodes.Stind_I8); break;
        }
    }

    /// <summary>The interpreter's run of instruction <paramref name="index"/> after a TLB miss, then on to <paramref name="done"/>.</summary>
    private void EmitSlowPath(Label miss, Label done, ref Instruction ins, int index, bool last)
    {
        IL.Emit(OpCodes.Br, done);
        IL.MarkLabel(miss);
        EmitStep(ref ins, index, last);
        IL.MarkLabel(done);
    }

    /// <summary>Loads, stores, PUSH and POP of a register, inline on a TLB hit. None touches the flag locals, so
    /// the producer before them stays known.</summary>
    private void EmitInlineMemory(ref FastOp f, ref Instruction ins, int index, bool last)
    {
        Label miss = IL.DefineLabel(), done = IL.DefineLabel();
        int size = f.Size;
        switch (f.Kind)
        {
            case FastOpKind.LoadReg:
                EmitLinear(ref f);
                EmitProbe(_readTlb, size, miss);
                EmitLoadPtr(size);
                IL.Emit(OpCodes.Stloc, _mem);
                EmitStoreGpr(f.Destination, () => IL.Emit(OpCodes.Ldloc, _mem), 8);
                break;
            case FastOpKind.LoadZeroExtend:
                EmitLinear(ref f);
                EmitProbe(_readTlb, f.Operation, miss);
                EmitLoadPtr(f.Operation);
                IL.Emit(OpCodes.Stloc, _mem);
                EmitStoreGpr(f.Destination, () => IL.Emit(OpCodes.Ldloc, _mem), 8);
                break;
            case FastOpKind.LoadSignExtend:
            {
                int from = f.Operation;
                EmitLinear(ref f);
                EmitProbe(_readTlb, from, miss);
                EmitLoadPtr(from);
                IL.Emit(OpCodes.Stloc, _mem);
                EmitStoreGpr(f.Destination, () => { IL.Emit(OpCodes.Ldloc, _mem); EmitExtend(from, signed: true); }, size);
                break;
            }
            case FastOpKind.StoreReg:
            {
                int source = f.Source;
                EmitLinear(ref f);
                EmitProbe(_writeTlb, size, miss);
                EmitStorePtr(size, () => EmitLoadGpr(source));
                break;
            }
            case FastOpKind.StoreImm:
            {
                long value = (long)f.Immediate;
                EmitLinear(ref f);
                EmitProbe(_writeTlb, size, miss);
                EmitStorePtr(size, () => IL.Emit(OpCodes.Ldc_I8, value));
                break;
            }
            case FastOpKind.PushReg:
            {
                int source = f.Source;
                EmitLoadGpr(4);
                IL.Emit(OpCodes.Ldc_I8, 8L);
                IL.Emit(OpCodes.Sub);
                IL.Emit(OpCodes.Stloc, _lin);
                EmitProbe(_writeTlb, 8, miss);
                EmitStorePtr(8, () => EmitLoadGpr(source));
                EmitStoreGpr(4, () => IL.Emit(OpCodes.Ldloc, _lin), 8);
                break;
            }
            default: // PopReg (never of RSP)
                EmitLoadGpr(4);
                IL.Emit(OpCodes.Stloc, _lin);
                EmitProbe(_readTlb, 8, miss);
                EmitLoadPtr(8);
                IL.Emit(OpCodes.Stloc, _mem);
                EmitStoreGpr(f.Destination, () => IL.Emit(OpCodes.Ldloc, _mem), 8);
                EmitStoreGpr(4, () => { IL.Emit(OpCodes.Ldloc, _lin); IL.Emit(OpCodes.Ldc_I8, 8L); IL.Emit(OpCodes.Add); }, 8);
                break;
        }
        EmitSlowPath(miss, done, ref ins, index, last);
    }

    /// <summary>ALU with a memory operand (not ADC/SBB): reg op= [mem], [mem] op= reg/imm, and CMP/TEST of
    /// memory. A read-modify-write goes through the write TLB (a writable RAM page is readable). After the
    /// interpreter's slow path the flag locals are reloaded from the lazy-flag fields it set, so both paths
    /// leave the same producer for the next Jcc.</summary>
    private void EmitInlineMemoryAlu(ref FastOp f, ref Instruction ins, int index, bool last, bool live)
    {
        Label miss = IL.DefineLabel(), done = IL.DefineLabel();
        var op = (AluOperation)f.Operation;
        int size = f.Size;
        bool readOnly = f.Kind == FastOpKind.AluRegMem || op is AluOperation.Cmp or AluOperation.Test;
        EmitLinear(ref f);
        EmitProbe(readOnly ? _readTlb : _writeTlb, size, miss);
        EmitLoadPtr(size);
        IL.Emit(OpCodes.Stloc, _mem);
        if (f.Kind == FastOpKind.AluRegMem)
        {
            int d = f.Destination;
            EmitAluCore(op, size, () => EmitLoadGpr(d), () => IL.Emit(OpCodes.Ldloc, _mem), live,
                () => EmitStoreGpr(d, () => IL.Emit(OpCodes.Ldloc, _r), 8));
        }
        else
        {
            int s = f.Source;
            long imm = (long)f.Immediate;
            Action loadB = f.Kind == FastOpKind.AluMemReg ? () => EmitLoadGpr(s) : () => IL.Emit(OpCodes.Ldc_I8, imm);
            EmitAluCore(op, size, () => IL.Emit(OpCodes.Ldloc, _mem), loadB, live,
                () => EmitStorePtr(size, () => IL.Emit(OpCodes.Ldloc, _r)));
        }
        Producer producer = _producer;
        int producerSize = _producerSize;
        IL.Emit(OpCodes.Br, done);
        IL.MarkLabel(miss);
        EmitStep(ref ins, index, last);
        if (!last)
        {
            EmitReloadFlagLocals();
        }
        IL.MarkLabel(done);
        _producer = producer;
        _producerSize = producerSize;
    }

    private void EmitReloadFlagLocals()
    {
        EmitLoadState64(CpuStateLayout.FlagA);
        IL.Emit(OpCodes.Stloc, _a);
        EmitLoadState64(CpuStateLayout.FlagB);
        IL.Emit(OpCodes.Stloc, _b);
        EmitLoadState64(CpuStateLayout.FlagResult);
        IL.Emit(OpCodes.Stloc, _r);
    }

    /// <summary>A near CALL to a canonical target: the return address pushed inline on a TLB hit, then RIP set
    /// and the block left (a CALL always ends its block).</summary>
    private void EmitInlineCall(ref FastOp f, ref Instruction ins, int index)
    {
        Label miss = IL.DefineLabel();
        ulong returnAddress = ins.NextIP;
        EmitLoadGpr(4);
        IL.Emit(OpCodes.Ldc_I8, 8L);
        IL.Emit(OpCodes.Sub);
        IL.Emit(OpCodes.Stloc, _lin);
        EmitProbe(_writeTlb, 8, miss);
        EmitStorePtr(8, () => IL.Emit(OpCodes.Ldc_I8, (long)returnAddress));
        EmitStoreGpr(4, () => IL.Emit(OpCodes.Ldloc, _lin), 8);
        EmitSetRip(f.Immediate);
        EmitLeave();
        IL.MarkLabel(miss);
        EmitStep(ref ins, index, last: true);
    }

    /// <summary>A near RET: the return address popped inline on a TLB hit and, when canonical, jumped to.</summary>
    private void EmitInlineRet(ref Instruction ins, int index)
    {
        Label miss = IL.DefineLabel();
        EmitLoadGpr(4);
        IL.Emit(OpCodes.Stloc, _lin);
        EmitProbe(_readTlb, 8, miss);
        EmitLoadPtr(8);
        IL.Emit(OpCodes.Stloc, _mem);
        // A non-canonical return address faults (#GP) in the interpreter.
        IL.Emit(OpCodes.Ldloc, _mem);
        IL.Emit(OpCodes.Ldc_I4, 16);
        IL.Emit(OpCodes.Shl);
        IL.Emit(OpCodes.Ldc_I4, 16);
        IL.Emit(OpCodes.Shr);
        IL.Emit(OpCodes.Ldloc, _mem);
        IL.Emit(OpCodes.Bne_Un, miss);
        EmitStoreGpr(4, () => { IL.Emit(OpCodes.Ldloc, _lin); IL.Emit(OpCodes.Ldc_I8, 8L); IL.Emit(OpCodes.Add); }, 8);
        EmitStateAddress(CpuStateLayout.Rip);
        IL.Emit(OpCodes.Ldloc, _mem);
        IL.Emit(OpCodes.Stind_I8);
        EmitLeave();
        IL.MarkLabel(miss);
        EmitStep(ref ins, index, last: true);
    }

    private void EmitCompareOperand(LocalBuilder value, bool signed)
    {
        IL.Emit(OpCodes.Ldloc, value);
        if (signed && _producerSize == 4) { IL.Emit(OpCodes.Conv_I4); IL.Emit(OpCodes.Conv_I8); }
    }
}

internal static class FastOpKindExtensions
{
    public static bool IsBranch(this FastOpKind kind) => kind is FastOpKind.Jcc or FastOpKind.Jmp;
}
