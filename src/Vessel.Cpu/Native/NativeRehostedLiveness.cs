using Iced.Intel;

namespace Vessel.Cpu.Native;

/// <summary><see cref="NativeFlagLiveness"/>'s step back over a Generic instruction, for the forms the translator
/// re-encodes (NativeTranslator.Rehosted.cs and its neighbours): the flags live before it, given those live after.
/// It must say All wherever the translation may leave for the interpreter (a memory operand's probe may miss, a
/// count of 0 by immediate, a divide error), since every exit reads all the flags.</summary>
internal static class NativeRehostedLiveness
{
    private const FlagSet KeptByRotate = FlagSet.Sf | FlagSet.Zf | FlagSet.Af | FlagSet.Pf;

    public static FlagSet Before(ref Instruction ins, FlagSet after)
    {
        if (ins.HasLockPrefix || ins.HasRepPrefix || ins.HasRepnePrefix) return FlagSet.All;
        Mnemonic m = ins.Mnemonic;
        if (NativeTranslator.IsInterpreterNoOp(m)) return after;
        switch (m)
        {
            case Mnemonic.Clc or Mnemonic.Stc: return after & ~FlagSet.Cf;
            case Mnemonic.Cmc: return after | FlagSet.Cf;
        }
        if (ins.OpCount == 0) return FlagSet.All;
        for (int k = 0; k < ins.OpCount; k++)
        {
            switch (ins.GetOpKind(k))
            {
                case OpKind.Register when ins.GetOpRegister(k).IsGPR():
                case OpKind.Immediate8 or OpKind.Immediate16 or OpKind.Immediate32 or OpKind.Immediate8to16
                    or OpKind.Immediate8to32 or OpKind.Immediate8to64 or OpKind.Immediate32to64:
                    continue;
                default:
                    return FlagSet.All; // memory (the probe may miss) or an operand the translator does not move
            }
        }
        switch (m)
        {
            case Mnemonic.Add or Mnemonic.Sub or Mnemonic.And or Mnemonic.Or or Mnemonic.Xor or Mnemonic.Cmp or Mnemonic.Test
                or Mnemonic.Neg:
                return FlagSet.None;
            case Mnemonic.Adc or Mnemonic.Sbb:
                return FlagSet.Cf;
            case Mnemonic.Inc or Mnemonic.Dec:
                return after & FlagSet.Cf;
            case Mnemonic.Not or Mnemonic.Mov or Mnemonic.Movzx or Mnemonic.Movsx or Mnemonic.Movsxd:
            case Mnemonic.Bswap when ins.Code != Code.Bswap_r16:
                return after;
            case Mnemonic.Seto or Mnemonic.Setno or Mnemonic.Setb or Mnemonic.Setae or Mnemonic.Sete or Mnemonic.Setne
                or Mnemonic.Setbe or Mnemonic.Seta or Mnemonic.Sets or Mnemonic.Setns or Mnemonic.Setp or Mnemonic.Setnp
                or Mnemonic.Setl or Mnemonic.Setge or Mnemonic.Setle or Mnemonic.Setg:
            case Mnemonic.Cmovo or Mnemonic.Cmovno or Mnemonic.Cmovb or Mnemonic.Cmovae or Mnemonic.Cmove or Mnemonic.Cmovne
                or Mnemonic.Cmovbe or Mnemonic.Cmova or Mnemonic.Cmovs or Mnemonic.Cmovns or Mnemonic.Cmovp or Mnemonic.Cmovnp
                or Mnemonic.Cmovl or Mnemonic.Cmovge or Mnemonic.Cmovle or Mnemonic.Cmovg:
                return after | NativeFlagLiveness.Reads(ins.ConditionCode);
            case Mnemonic.Bt or Mnemonic.Bts or Mnemonic.Btr or Mnemonic.Btc or Mnemonic.Bsf or Mnemonic.Bsr
                or Mnemonic.Tzcnt or Mnemonic.Lzcnt when NativeBitOpsEmitter.Takes(ref ins):
                return NativeBitOpsEmitter.LiveBefore(ref ins, after);
            case Mnemonic.Mul or Mnemonic.Imul or Mnemonic.Xchg when ins.OpCount <= 2 && NativeAccumulatorEmitter.Takes(ref ins):
                return NativeAccumulatorEmitter.LiveBefore(ref ins, after);
            case Mnemonic.Imul when ins.OpCount >= 2:
                return FlagSet.None;
            case Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar or Mnemonic.Rol or Mnemonic.Ror
                when NativeShiftEmitter.IsTranslatedShift(ref ins, out _, out bool byCl, out _):
                // By CL a count of 0 passes every flag through; a rotate passes SF, ZF, AF and PF.
                if (byCl) return after;
                return m is Mnemonic.Rol or Mnemonic.Ror ? after & KeptByRotate : FlagSet.None;
            default:
                return FlagSet.All;
        }
    }
}
