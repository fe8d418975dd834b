using Iced.Intel;
using Vessel.Cpu.Fpu;

namespace Vessel.Cpu;

/// <summary>Dispatch of the SIMD instructions by family.</summary>
internal sealed partial class SimdUnit
{
    /// <summary>EMMS, any form with an MM register, and the MMX-SSE conversions (also with a memory operand):
    /// these go to <see cref="ExecuteMmx"/>, whatever their mnemonic shares with SSE.</summary>
    public static bool IsMmxForm(ref Instruction ins) => ins.Mnemonic is Mnemonic.Emms or Mnemonic.Cvtpi2ps or Mnemonic.Cvtpi2pd
        or Mnemonic.Cvtps2pi or Mnemonic.Cvttps2pi or Mnemonic.Cvtpd2pi or Mnemonic.Cvttpd2pi || HasMmxRegister(ref ins);

    /// <summary>Executes an MMX form (see <see cref="IsMmxForm"/>); false if it is not a known one.</summary>
    public bool ExecuteMmx(ref Instruction ins) => TryMmx(ref ins);

    /// <summary>Executes an SSE..SSE4.2 instruction; false if <paramref name="ins"/> is not one.</summary>
    public bool Execute(ref Instruction ins)
    {
        if (TrySsePackedBinary(ref ins) || TrySsePackedUnary(ref ins) || TrySseMove(ref ins)) return true;
        return TrySseFloat(ref ins) || TrySseMisc(ref ins) || TrySse41(ref ins) || TrySseString(ref ins);
    }

    private bool TrySseFloat(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Addps: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Add, false, false); return true;
            case Mnemonic.Addpd: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Add, true, false); return true;
            case Mnemonic.Addss: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Add, false, true); return true;
            case Mnemonic.Addsd: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Add, true, true); return true;
            case Mnemonic.Subps: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Sub, false, false); return true;
            case Mnemonic.Subpd: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Sub, true, false); return true;
            case Mnemonic.Subss: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Sub, false, true); return true;
            case Mnemonic.Subsd: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Sub, true, true); return true;
            case Mnemonic.Mulps: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Mul, false, false); return true;
            case Mnemonic.Mulpd: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Mul, true, false); return true;
            case Mnemonic.Mulss: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Mul, false, true); return true;
            case Mnemonic.Mulsd: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Mul, true, true); return true;
            case Mnemonic.Divps: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Div, false, false); return true;
            case Mnemonic.Divpd: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Div, true, false); return true;
            case Mnemonic.Divss: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Div, false, true); return true;
            case Mnemonic.Divsd: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Div, true, true); return true;
            case Mnemonic.Sqrtps: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Sqrt, false, false); return true;
            case Mnemonic.Sqrtpd: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Sqrt, true, false); return true;
            case Mnemonic.Sqrtss: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Sqrt, false, true); return true;
            case Mnemonic.Sqrtsd: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Sqrt, true, true); return true;
            case Mnemonic.Minps: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Min, false, false); return true;
            case Mnemonic.Minpd: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Min, true, false); return true;
            case Mnemonic.Minss: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Min, false, true); return true;
            case Mnemonic.Minsd: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Min, true, true); return true;
            case Mnemonic.Maxps: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Max, false, false); return true;
            case Mnemonic.Maxpd: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Max, true, false); return true;
            case Mnemonic.Maxss: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Max, false, true); return true;
            case Mnemonic.Maxsd: CheckSse(); SseArithmetic(ref ins, SseArith.Op.Max, true, true); return true;
            case Mnemonic.Cmpps: CheckSse(); SseCompare(ref ins, false, false); return true;
            case Mnemonic.Cmppd: CheckSse(); SseCompare(ref ins, true, false); return true;
            case Mnemonic.Cmpss: CheckSse(); SseCompare(ref ins, false, true); return true;
            case Mnemonic.Cmpsd: CheckSse(); SseCompare(ref ins, true, true); return true;
            case Mnemonic.Comiss: CheckSse(); SseCompareFlags(ref ins, false, true); return true;
            case Mnemonic.Comisd: CheckSse(); SseCompareFlags(ref ins, true, true); return true;
            case Mnemonic.Ucomiss: CheckSse(); SseCompareFlags(ref ins, false, false); return true;
            case Mnemonic.Ucomisd: CheckSse(); SseCompareFlags(ref ins, true, false); return true;
            case Mnemonic.Cvtsi2ss: CheckSse(); SseCvtIntToFloat(ref ins, false); return true;
            case Mnemonic.Cvtsi2sd: CheckSse(); SseCvtIntToFloat(ref ins, true); return true;
            case Mnemonic.Cvtss2si: CheckSse(); SseCvtFloatToInt(ref ins, false, false); return true;
            case Mnemonic.Cvtsd2si: CheckSse(); SseCvtFloatToInt(ref ins, true, false); return true;
            case Mnemonic.Cvttss2si: CheckSse(); SseCvtFloatToInt(ref ins, false, true); return true;
            case Mnemonic.Cvttsd2si: CheckSse(); SseCvtFloatToInt(ref ins, true, true); return true;
            case Mnemonic.Cvtss2sd: CheckSse(); SseCvtPrecision(ref ins, false, true); return true;
            case Mnemonic.Cvtsd2ss: CheckSse(); SseCvtPrecision(ref ins, true, true); return true;
            case Mnemonic.Cvtps2pd: CheckSse(); SseCvtPrecision(ref ins, false, false); return true;
            case Mnemonic.Cvtpd2ps: CheckSse(); SseCvtPrecision(ref ins, true, false); return true;
            case Mnemonic.Cvtdq2ps: case Mnemonic.Cvtdq2pd: case Mnemonic.Cvtps2dq: case Mnemonic.Cvttps2dq:
            case Mnemonic.Cvtpd2dq: case Mnemonic.Cvttpd2dq:
                CheckSse(); SseCvtPacked(ref ins); return true;
            case Mnemonic.Addsubps: case Mnemonic.Haddps: case Mnemonic.Hsubps: CheckSse(); SseHorizontal(ref ins, false); return true;
            case Mnemonic.Addsubpd: case Mnemonic.Haddpd: case Mnemonic.Hsubpd: CheckSse(); SseHorizontal(ref ins, true); return true;
        }
        return false;
    }
}
