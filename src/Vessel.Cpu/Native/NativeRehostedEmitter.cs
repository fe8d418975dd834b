using Iced.Intel;

namespace Vessel.Cpu.Native;

/// <summary>The Generic forms (those the decoder gives no fast form) that translated code runs: which emitter takes
/// each mnemonic, and the plain re-hosted case (see NativeTranslator.Rehosted.cs) that most of them are. The bit
/// operations, the accumulator forms, DIV and the shifts have emitters of their own, made here when first needed.</summary>
internal sealed class NativeRehostedEmitter(NativeTranslator t)
{
    private readonly Assembler _a = t.Asm;
    private NativeBitOpsEmitter? _bitOps;
    private NativeAccumulatorEmitter? _accumulator;
    private NativeDivideEmitter? _divide;
    private NativeShiftEmitter? _shifts;

    private NativeBitOpsEmitter BitOps => _bitOps ??= new NativeBitOpsEmitter(t);
    private NativeAccumulatorEmitter Accumulator => _accumulator ??= new NativeAccumulatorEmitter(t);
    private NativeDivideEmitter Divide => _divide ??= new NativeDivideEmitter(t);
    private NativeShiftEmitter Shifts => _shifts ??= new NativeShiftEmitter(t);

    private static bool IsInterpreterNoOp(Mnemonic m) => NativeTranslator.IsInterpreterNoOp(m);
    private static bool TryRehost(ref Instruction ins, out Instruction host, out FastOp memory) =>
        NativeTranslator.TryRehost(ref ins, out host, out memory);
    private void EmitAccess(ref FastOp f, int tlbOffset, int size, int index) => t.Access(ref f, tlbOffset, size, index);
    private void EmitRestoreFlags() => t.RestoreFlags();
    private void LoadRehostedRegisters(ref Instruction ins) => t.LoadRehostedRegisters(ref ins);
    private void StoreRaxToSlot(Register r) => t.StoreRaxToSlot(r);
    private void EmitImulFlags(int size) => t.MultiplyFlags(size);
    private void EmitPushFlags(int index) => t.PushFlags(index);
    private void CountInstruction() => t.Count();

    /// <summary>Instruction <paramref name="index"/>, a Generic form, translated; false when this tier leaves it to
    /// the interpreter.</summary>
    public bool TryEmit(ref Instruction ins, int index, FlagSet flagsLive)
    {
        if (BitOps.TryEmit(ref ins, index, flagsLive) || Accumulator.TryEmit(ref ins, index, flagsLive)) return true;
        if (ins.HasLockPrefix || ins.HasRepPrefix || ins.HasRepnePrefix) return false;
        if (IsInterpreterNoOp(ins.Mnemonic))
        {
            CountInstruction();
            return true;
        }
        switch (ins.Mnemonic)
        {
            case Mnemonic.Pushfq when ins.Code == Code.Pushfq:
                EmitPushFlags(index);
                return true;
            case Mnemonic.Add or Mnemonic.Sub or Mnemonic.And or Mnemonic.Or or Mnemonic.Xor or Mnemonic.Neg:
                return EmitRehosted(ref ins, index, writes: true, readsFlags: false);
            case Mnemonic.Cmp or Mnemonic.Test:
                return EmitRehosted(ref ins, index, writes: false, readsFlags: false);
            // These read CF (ADC, SBB), keep some flags (INC, DEC) or all (the rest), which a probe clobbers.
            case Mnemonic.Adc or Mnemonic.Sbb or Mnemonic.Inc or Mnemonic.Dec or Mnemonic.Not
                or Mnemonic.Mov or Mnemonic.Movzx or Mnemonic.Movsx or Mnemonic.Movsxd
                or Mnemonic.Seto or Mnemonic.Setno or Mnemonic.Setb or Mnemonic.Setae or Mnemonic.Sete or Mnemonic.Setne
                or Mnemonic.Setbe or Mnemonic.Seta or Mnemonic.Sets or Mnemonic.Setns or Mnemonic.Setp or Mnemonic.Setnp
                or Mnemonic.Setl or Mnemonic.Setge or Mnemonic.Setle or Mnemonic.Setg
                // CMOVcc of memory (or of 16 bits): the source is read whatever the condition, as the host's does.
                or Mnemonic.Cmovo or Mnemonic.Cmovno or Mnemonic.Cmovb or Mnemonic.Cmovae or Mnemonic.Cmove or Mnemonic.Cmovne
                or Mnemonic.Cmovbe or Mnemonic.Cmova or Mnemonic.Cmovs or Mnemonic.Cmovns or Mnemonic.Cmovp or Mnemonic.Cmovnp
                or Mnemonic.Cmovl or Mnemonic.Cmovge or Mnemonic.Cmovle or Mnemonic.Cmovg:
                return EmitRehosted(ref ins, index, writes: true, readsFlags: true);
            case Mnemonic.Bswap when ins.Code != Code.Bswap_r16: // BSWAP of a word is undefined; the interpreter's own
                return EmitRehosted(ref ins, index, writes: true, readsFlags: true);
            // IMUL's SF, ZF, AF and PF are the interpreter's own: set its way where they are read.
            case Mnemonic.Imul when ins.OpCount >= 2:
                return EmitRehosted(ref ins, index, writes: true, readsFlags: false,
                    imulFlags: (flagsLive & NativeFlagLiveness.ImulUndefined) != 0);
            case Mnemonic.Clc or Mnemonic.Stc or Mnemonic.Cmc:
            {
                Instruction host = ins;
                host.IP = 0;
                _a.AddInstruction(host);
                CountInstruction();
                return true;
            }
            case Mnemonic.Div:
                return Divide.TryEmit(ref ins, index);
            case Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar or Mnemonic.Rol or Mnemonic.Ror:
                return Shifts.TryEmit(ref ins, index, flagsLive);
            default:
                return false;
        }
    }

    /// <summary>The plain case: probe (if there is a memory operand), the flags back if the instruction reads or
    /// keeps any, registers in, the host instruction, the written register out.</summary>
    private bool EmitRehosted(ref Instruction ins, int index, bool writes, bool readsFlags, bool imulFlags = false)
    {
        if (!TryRehost(ref ins, out Instruction host, out FastOp memory)) return false;
        if (memory.AddressMask != 0)
        {
            bool store = writes && ins.Op0Kind == OpKind.Memory;
            EmitAccess(ref memory, store ? NativeLayout.WriteTlb : NativeLayout.ReadTlb, ins.MemorySize.GetSize(), index);
            if (readsFlags) EmitRestoreFlags();
        }
        LoadRehostedRegisters(ref ins);
        _a.AddInstruction(host);
        if (writes && ins.Op0Kind == OpKind.Register) StoreRaxToSlot(ins.Op0Register);
        if (imulFlags) EmitImulFlags(RegisterTable.Size[(int)ins.Op0Register]);
        CountInstruction();
        return true;
    }
}
