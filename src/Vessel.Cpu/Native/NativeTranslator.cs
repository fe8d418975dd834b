using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Native;

/// <summary>A block translated to host code, not yet placed: its bytes and, per instruction, the offset of the
/// entry that starts there (-1 where there is none).</summary>
internal sealed record NativeTranslation(byte[] Code, int[] EntryOffsets, int ChainEntryOffset, int[] ChainSlotOffsets, ulong[] ChainTargets);

/// <summary>Translates a decoded 64-bit block into host x86-64 code, encoded with Iced's assembler.
/// <para>The code is entered as <c>int f(CpuState* state, NativeContext* context)</c> (SysV: RDI, RSI) at the entry
/// of some instruction, and calls nothing but libc's clock_gettime (RDTSC, see <see cref="NativeTscEmitter"/>): it
/// returns -1 (<see cref="BlockDone"/>) with RIP stored when the block is done, or the index of an instruction it does not run (one it does not translate, or a memory access
/// whose page the TLB does not map), with every earlier effect stored, for the interpreter to run; the managed side
/// then re-enters at the next instruction's entry. Faults therefore happen in the interpreter, at the instruction
/// start.</para>
/// <para>Guest registers stay at their <see cref="CpuStateLayout"/> offsets (loaded and stored around each
/// instruction). The guest's arithmetic flags live in the host's flags at every instruction boundary: an entry loads
/// them from RFLAGS (the managed side has folded lazy flags in), every exit stores them back, and code that clobbers
/// them in between saves them in R10 (LAHF/SETO, then ADD/SAHF); the TLB probe leaves them alone where the host has
/// BMI2, and saves them itself where not. R11 counts the
/// instructions run since the entry; RAX, RCX, RDX, R8 and R9 are scratch. Nothing here touches a callee-saved
/// register, nor the host stack outside that call.</para></summary>
internal sealed partial class NativeTranslator
{
    /// <summary>Returned when the block is done and RIP holds where to go next.</summary>
    public const int BlockDone = -1;

    /// <summary>Iterations a self-looping block runs within one entry, so interrupts and kicks are seen promptly.</summary>
    public const int LoopBudget = 256;

    private const int ArithmeticFlags = 0x8D5;

    private readonly DecodedBlock _block;
    private readonly Assembler _a = EmptyAssembler();
    private readonly Label[] _labels;
    private readonly bool[] _needsEntry;
    private readonly Label[] _entryLabels;
    private readonly List<Action> _outOfLine = [];
    private Label _exitTail;
    private readonly List<Label> _chainSlots = [];
    private readonly List<ulong> _chainTargets = [];

    /// <summary>The current instruction's code saved the guest's flags in R10 and has not restored them yet.</summary>
    private bool _flagsInR10;

    /// <summary>What the chain entry writes into <see cref="NativeContext.RunningBlock"/>.</summary>
    private readonly int _runningId;

    private NativeTranslator(DecodedBlock block, int runningId)
    {
        _block = block;
        _runningId = runningId;
        _labels = new Label[block.Count];
        _entryLabels = new Label[block.Count];
        _needsEntry = new bool[block.Count];
        for (int i = 0; i < block.Count; i++) _labels[i] = _a.CreateLabel();
        _exitTail = _a.CreateLabel();
        _needsEntry[0] = true;
    }

    [ThreadStatic] private static Assembler? t_assembler;

    /// <summary>This thread's assembler, emptied: one is reused from block to block (a new one per block grew its
    /// instruction list afresh each time, a good part of the 75 KB a translation allocated).</summary>
    private static Assembler EmptyAssembler()
    {
        Assembler a = t_assembler ??= new Assembler(64);
        a.Reset();
        return a;
    }

    /// <summary>The translation of <paramref name="block"/>, or null when this tier does not take it (not 64-bit code).</summary>
    public static NativeTranslation? Translate(DecodedBlock block, int runningId = 0)
    {
        if (block.Bitness != 64 || block.Count == 0) return null;
        return new NativeTranslator(block, runningId).Emit();
    }

    private NativeTranslation Emit()
    {
        int count = _block.Count;
        FastOp[] ops = _block.FastOps;
        FlagSet[] flagsLiveAfter = NativeFlagLiveness.LiveAfter(_block);
        for (int i = 0; i < count; i++)
        {
            _a.Label(ref _labels[i]);
            bool stepped = !EmitInstruction(i, flagsLiveAfter[i]);
            if (stepped) EmitExit(i);
            else SystemEmitter.EmitShadowEnd(i);
        }
        // The block ended without a branch (length limit, page end): on after its last instruction.
        if (!ops[count - 1].Kind.IsBranch()) EmitExitTo(_block.Instructions[count - 1].NextIP);
        foreach (Action code in _outOfLine) code();
        EmitExitTail();
        SseEmitter.EmitMxcsrRestoringReturn();
        Label chainEntry = EmitChainEntry();
        for (int i = 0; i < count; i++)
        {
            if (!_needsEntry[i]) continue;
            _entryLabels[i] = _a.CreateLabel();
            _a.Label(ref _entryLabels[i]);
            _a.xor(r11d, r11d);
            EmitFlagsFromState();
            _a.jmp(_labels[i]);
        }
        return Encode(chainEntry);
    }

    /// <summary>The assembled block: encoded by <see cref="NativeBlockEncoder"/>, or by Iced's block encoder where
    /// that one declines.</summary>
    private NativeTranslation Encode(Label chainEntry)
    {
        int count = _block.Count;
        var entries = new int[count];
        var slots = new int[_chainSlots.Count];
        NativeBlockEncoder encoder = NativeBlockEncoder.ForThisThread;
        if (encoder.TryEncode(_a.Instructions, _a.CreateLabel().Id) is { } code)
        {
            for (int i = 0; i < count; i++) entries[i] = _needsEntry[i] ? encoder.OffsetOf(_entryLabels[i].InstructionIndex) : -1;
            for (int i = 0; i < slots.Length; i++) slots[i] = encoder.OffsetOf(_chainSlots[i].InstructionIndex) - 5;
            return new NativeTranslation(code, entries, encoder.OffsetOf(chainEntry.InstructionIndex), slots, [.. _chainTargets]);
        }
        var writer = new ByteCodeWriter();
        AssemblerResult result = _a.Assemble(writer, 0, BlockEncoderOptions.ReturnNewInstructionOffsets);
        for (int i = 0; i < count; i++)
            entries[i] = _needsEntry[i] ? (int)result.GetLabelRIP(_entryLabels[i]) : -1;
        for (int i = 0; i < slots.Length; i++) slots[i] = (int)result.GetLabelRIP(_chainSlots[i]) - 5;
        return new NativeTranslation(writer.ToArray(), entries, (int)result.GetLabelRIP(chainEntry), slots, [.. _chainTargets]);
    }

    /// <summary>Emits instruction <paramref name="i"/>; false when it is left to the interpreter (the caller emits
    /// the exit).</summary>
    private bool EmitInstruction(int i, FlagSet flagsLive)
    {
        ref FastOp f = ref _block.FastOps[i];
        ref Instruction ins = ref _block.Instructions[i];
        bool last = i == _block.Count - 1;
        _flagsInR10 = false;
        switch (f.Kind)
        {
            case FastOpKind.Jcc when LinearAddress.IsCanonical(f.Immediate):
                CountInstruction();
                EmitConditionalBranch(ref f, ref ins, i, last);
                return true;
            case FastOpKind.Jmp when last && LinearAddress.IsCanonical(f.Immediate):
                CountInstruction();
                EmitTakenBranch(f.Immediate);
                return true;
            case FastOpKind.Nop:
                CountInstruction();
                return true;
            case FastOpKind.RetNear:
                EmitReturn(i);
                return true;
            case FastOpKind.Generic when IsRegisterIndirectBranch(ref ins):
                EmitIndirectBranch(ref ins, i);
                return true;
            case FastOpKind.Generic when IsMemoryIndirectBranch(ref ins):
                return EmitMemoryIndirectBranch(ref ins, i);
            case FastOpKind.Generic when IsPushMemory(ref ins):
                return EmitPushMemory(ref ins, i);
            case FastOpKind.Generic when ins.Code == Code.Leaveq:
                EmitLeave(i);
                return true;
        }
        if (EmitRegisterForm(ref f, flagsLive)) return true;
        if (EmitMemoryForm(ref f, ref ins, i)) return true;
        return f.Kind == FastOpKind.Generic
            && (Rehosted.TryEmit(ref ins, i, flagsLive) || SseEmitter.TryEmit(ref ins, i) || SystemEmitter.TryEmit(ref ins, i));
    }

    // ---------------------------------------------------------------- state, flags, exits

    private static AssemblerMemoryOperand GprQ(int index) => __qword_ptr[rdi + CpuStateLayout.GprAt(index)];
    private static AssemblerMemoryOperand GprD(int index) => __dword_ptr[rdi + CpuStateLayout.GprAt(index)];
    internal static AssemblerMemoryOperand StateQ(int offset) => __qword_ptr[rdi + offset];

    /// <summary>One more instruction run (LEA: the flags stay).</summary>
    private void CountInstruction() => _a.lea(r11, __[r11 + 1]);

    /// <summary>Stores a 64-bit constant into the state (RAX is scratch); leaves the flags alone.</summary>
    private void EmitStoreConstant(int offset, ulong value)
    {
        if ((ulong)(long)(int)value == value)
        {
            _a.mov(StateQ(offset), (int)value);
            return;
        }
        _a.mov(rax, value);
        _a.mov(StateQ(offset), rax);
    }

    /// <summary>RFLAGS' arithmetic bits = the host's: LAHF's SF, ZF, AF, PF and CF sit at their RFLAGS bits, OF goes
    /// to bit 11 (half the time of PUSHFQ/POP, which every exit paid).</summary>
    private void EmitFlagsToState()
    {
        _a.lahf();
        _a.seto(al);
        _a.movzx(ecx, ah);
        _a.movzx(eax, al);
        _a.shl(eax, 11);
        _a.or(eax, ecx);
        _a.and(eax, ArithmeticFlags);
        _a.mov(rcx, StateQ(CpuStateLayout.Rflags));
        _a.and(rcx, ~ArithmeticFlags);
        _a.or(rcx, rax);
        _a.mov(StateQ(CpuStateLayout.Rflags), rcx);
    }

    /// <summary>The host's arithmetic flags = RFLAGS': OF through an ADD that overflows exactly when it is set, then
    /// SAHF for SF, ZF, AF, PF and CF (nothing else of the host's flags changes).</summary>
    private void EmitFlagsFromState()
    {
        _a.mov(rax, StateQ(CpuStateLayout.Rflags));
        _a.mov(ecx, eax);
        _a.shr(ecx, 11);
        _a.and(ecx, 1);
        _a.add(cl, 0x7F);
        _a.mov(ah, al);
        _a.sahf();
    }

    /// <summary>Keeps the host's (the guest's) arithmetic flags in R10 while code clobbers them (RAX is scratch);
    /// nothing when they are there already.</summary>
    private void EmitSaveFlags()
    {
        if (_flagsInR10) return;
        _a.lahf();
        _a.seto(al);
        _a.mov(r10d, eax);
        _flagsInR10 = true;
    }

    /// <summary>The host's flags back from R10 after <see cref="EmitSaveFlags"/> in this instruction; nothing when
    /// nothing saved them (a probe that keeps the flags, see <see cref="EmitProbe"/>).</summary>
    private void EmitRestoreFlags()
    {
        if (!_flagsInR10) return;
        EmitFlagsFromR10();
        _flagsInR10 = false;
    }

    /// <summary>The host's flags from R10, unconditionally: for out-of-line code that left straight after a save.</summary>
    private void EmitFlagsFromR10()
    {
        _a.mov(eax, r10d);
        _a.add(al, 0x7F);
        _a.sahf();
    }

    /// <summary>Returns <paramref name="code"/> through the block's exit tail (<see cref="EmitExitTail"/>). Returning
    /// <c>i</c> hands instruction i to the interpreter, which then needs an entry at i + 1 to come back to.</summary>
    private void EmitExit(int code)
    {
        _a.mov(edx, code);
        _a.jmp(_exitTail);
        if (code >= 0 && code + 1 < _block.Count) _needsEntry[code + 1] = true;
    }

    /// <summary>Stores the flags and the count and returns EDX: one copy a block, which every exit jumps to. A copy at
    /// each exit was half of a block's host instructions, and encoding them most of its translation time; the jump
    /// it costs an exit is nothing beside the return to the run loop.</summary>
    private void EmitExitTail()
    {
        _a.Label(ref _exitTail);
        EmitFlagsToState();
        _a.add(StateQ(CpuStateLayout.InstructionsRetired), r11);
        _a.mov(eax, edx);
        SseEmitter.EmitReturn();
    }

    /// <summary>Leaves for <paramref name="rip"/>; inside the block's own page, through a chain slot (see
    /// <see cref="NativeChaining"/>): a <c>JMP rel32</c> that falls through to the exit until the run loop patches it
    /// to the chain entry of the block at <paramref name="rip"/>; into another page, through the jump cache (see
    /// <see cref="EmitJumpToOtherPage"/>). The flags are still the host's there.</summary>
    private void EmitExitTo(ulong rip)
    {
        if ((rip ^ _block.StartRip) >= 0x1000)
        {
            EmitJumpToOtherPage(rip);
            return;
        }
        // The label goes on the MOV after the jump: the jump may carry a label of its own.
        Label afterSlot = _a.CreateLabel();
        _a.db(0xE9, 0, 0, 0, 0);
        _a.Label(ref afterSlot);
        _a.mov(__dword_ptr[rsi + NativeLayout.ExitSlot], _chainSlots.Count);
        _chainSlots.Add(afterSlot);
        _chainTargets.Add(rip);
        EmitPlainExitTo(rip);
    }

    /// <summary>The entry other blocks' chain slots jump to, flags in the host's and R11 counting on: it names this
    /// block as the running one, and returns to the run loop once the context's loop budget is spent, so chained
    /// code sees interrupts and kicks within <see cref="LoopBudget"/> blocks.</summary>
    private Label EmitChainEntry()
    {
        Label entry = _a.CreateLabel();
        _a.Label(ref entry);
        _a.mov(__qword_ptr[rsi + NativeLayout.RunningBlock], _runningId);
        EmitLoopBackOrExitTo(_block.StartRip);
        return entry;
    }

    /// <summary>One run of the block against the loop budget: while it lasts, on to the block's first instruction;
    /// spent, an exit to <paramref name="rip"/> (the block's own start), so translated code returns to the run loop.</summary>
    private void EmitLoopBackOrExitTo(ulong rip)
    {
        Label budgetSpent = _a.CreateLabel();
        _a.mov(ecx, __dword_ptr[rsi + NativeLayout.LoopBudget]);
        _a.lea(ecx, __[rcx - 1]);
        _a.mov(__dword_ptr[rsi + NativeLayout.LoopBudget], ecx);
        _a.jrcxz(budgetSpent);
        _a.jmp(_labels[0]);
        _a.Label(ref budgetSpent);
        EmitPlainExitTo(rip);
    }

    private void EmitPlainExitTo(ulong rip)
    {
        EmitStoreConstant(CpuStateLayout.Rip, rip);
        EmitExit(BlockDone);
    }

    /// <summary>Emits <paramref name="code"/> after the block's straight-line code, at a new label; returns it. The
    /// code sees whether the flags were in R10 where it was asked for, not where it is emitted.</summary>
    private Label OutOfLine(Action code)
    {
        Label label = _a.CreateLabel();
        bool flagsInR10 = _flagsInR10;
        _outOfLine.Add(() =>
        {
            _a.Label(ref label);
            _flagsInR10 = flagsInR10;
            code();
        });
        return label;
    }
}
