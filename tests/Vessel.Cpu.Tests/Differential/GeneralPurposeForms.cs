using Iced.Intel;

namespace Vessel.Cpu.Tests.Differential;

/// <summary>The user-mode general-purpose instruction forms tested by generation from their Iced operand
/// kinds: every Iced <see cref="Code"/> of these mnemonics valid in 64-bit mode, in every operand size, with
/// register and memory operands.</summary>
internal static class GeneralPurposeForms
{
    public static readonly Mnemonic[] Arithmetic =
    [
        Mnemonic.Add, Mnemonic.Adc, Mnemonic.Sub, Mnemonic.Sbb, Mnemonic.And, Mnemonic.Or, Mnemonic.Xor, Mnemonic.Cmp,
        Mnemonic.Test, Mnemonic.Inc, Mnemonic.Dec, Mnemonic.Neg, Mnemonic.Not,
    ];

    public static readonly Mnemonic[] DataMovement =
    [
        Mnemonic.Mov, Mnemonic.Movzx, Mnemonic.Movsx, Mnemonic.Movsxd, Mnemonic.Lea, Mnemonic.Xchg, Mnemonic.Xadd,
        Mnemonic.Cmpxchg, Mnemonic.Cmpxchg8b, Mnemonic.Cmpxchg16b, Mnemonic.Bswap, Mnemonic.Movbe,
        Mnemonic.Cbw, Mnemonic.Cwde, Mnemonic.Cdqe, Mnemonic.Cwd, Mnemonic.Cdq, Mnemonic.Cqo,
        Mnemonic.Lahf, Mnemonic.Sahf, Mnemonic.Clc, Mnemonic.Stc, Mnemonic.Cmc,
        Mnemonic.Seto, Mnemonic.Setno, Mnemonic.Setb, Mnemonic.Setae, Mnemonic.Sete, Mnemonic.Setne, Mnemonic.Setbe,
        Mnemonic.Seta, Mnemonic.Sets, Mnemonic.Setns, Mnemonic.Setp, Mnemonic.Setnp, Mnemonic.Setl, Mnemonic.Setge,
        Mnemonic.Setle, Mnemonic.Setg,
        Mnemonic.Cmovo, Mnemonic.Cmovno, Mnemonic.Cmovb, Mnemonic.Cmovae, Mnemonic.Cmove, Mnemonic.Cmovne,
        Mnemonic.Cmovbe, Mnemonic.Cmova, Mnemonic.Cmovs, Mnemonic.Cmovns, Mnemonic.Cmovp, Mnemonic.Cmovnp,
        Mnemonic.Cmovl, Mnemonic.Cmovge, Mnemonic.Cmovle, Mnemonic.Cmovg,
    ];

    public static readonly Mnemonic[] ShiftsAndRotates =
    [
        Mnemonic.Shl, Mnemonic.Sal, Mnemonic.Shr, Mnemonic.Sar, Mnemonic.Rol, Mnemonic.Ror, Mnemonic.Rcl, Mnemonic.Rcr,
        Mnemonic.Shld, Mnemonic.Shrd,
    ];

    public static readonly Mnemonic[] MultiplyDivide = [Mnemonic.Mul, Mnemonic.Imul, Mnemonic.Div, Mnemonic.Idiv];

    public static readonly Mnemonic[] BitOperations =
    [
        Mnemonic.Bt, Mnemonic.Bts, Mnemonic.Btr, Mnemonic.Btc, Mnemonic.Bsf, Mnemonic.Bsr, Mnemonic.Popcnt,
    ];

    public static readonly Mnemonic[] Stack =
    [
        Mnemonic.Push, Mnemonic.Pop, Mnemonic.Enter, Mnemonic.Leave, Mnemonic.Pushf, Mnemonic.Pushfq,
        Mnemonic.Popf, Mnemonic.Popfq,
    ];

    public static readonly Mnemonic[] Lockable =
    [
        Mnemonic.Add, Mnemonic.Adc, Mnemonic.Sub, Mnemonic.Sbb, Mnemonic.And, Mnemonic.Or, Mnemonic.Xor, Mnemonic.Not,
        Mnemonic.Neg, Mnemonic.Inc, Mnemonic.Dec, Mnemonic.Xchg, Mnemonic.Xadd, Mnemonic.Cmpxchg, Mnemonic.Cmpxchg8b,
        Mnemonic.Cmpxchg16b, Mnemonic.Bts, Mnemonic.Btr, Mnemonic.Btc,
    ];

    /// <summary>Forms of <see cref="Lockable"/> whose first operand can be memory (the ones LOCK is legal on).</summary>
    public static IEnumerable<Code> LockForms() => Of(Lockable).Where(c =>
        c.ToOpCode().GetOpKind(0) is OpCodeOperandKind.r8_or_mem or OpCodeOperandKind.r16_or_mem
            or OpCodeOperandKind.r32_or_mem or OpCodeOperandKind.r64_or_mem or OpCodeOperandKind.mem);

    /// <summary>Forms left out, with the reason.</summary>
    private static bool Excluded(Code code) => code switch
    {
        // BSWAP of a 16-bit register is undefined.
        Code.Bswap_r16 => true,
        _ => false,
    };

    public static IEnumerable<Code> Of(IEnumerable<Mnemonic> mnemonics)
    {
        var set = new HashSet<Mnemonic>(mnemonics);
        return Enum.GetValues<Code>().Where(c => set.Contains(c.Mnemonic()) && !Excluded(c) && CaseGenerator.Supports(c));
    }
}
