using Iced.Intel;

namespace Vessel.Cpu.Native;

/// <summary>The SSE mnemonics the native tier re-hosts (see NativeSseEmitter): those whose result the host
/// computes bit for bit as the interpreter does whatever MXCSR holds — integer SSE to SSE4.1, bitwise logic,
/// shuffles, unpacks, moves, mask extraction — and that touch nothing beyond their explicit operands (no implicit
/// XMM0, RDI or ECX: BLENDV, MASKMOVDQU and the string compares stay interpreted, as do non-temporal stores).</summary>
internal static class NativeSseForms
{
    private static readonly HashSet<Mnemonic> Forms =
    [
        // Moves and mask extraction.
        Mnemonic.Movaps, Mnemonic.Movapd, Mnemonic.Movups, Mnemonic.Movupd, Mnemonic.Movdqa, Mnemonic.Movdqu,
        Mnemonic.Movd, Mnemonic.Movq, Mnemonic.Movss, Mnemonic.Movsd, Mnemonic.Movlps, Mnemonic.Movlpd, Mnemonic.Movhps,
        Mnemonic.Movhpd, Mnemonic.Movhlps, Mnemonic.Movlhps, Mnemonic.Movddup, Mnemonic.Movshdup, Mnemonic.Movsldup,
        Mnemonic.Pmovmskb, Mnemonic.Movmskps, Mnemonic.Movmskpd, Mnemonic.Pextrw, Mnemonic.Pinsrw,
        // Bitwise logic (also of the floating-point types: no arithmetic, no MXCSR).
        Mnemonic.Pxor, Mnemonic.Por, Mnemonic.Pand, Mnemonic.Pandn, Mnemonic.Xorps, Mnemonic.Xorpd, Mnemonic.Orps,
        Mnemonic.Orpd, Mnemonic.Andps, Mnemonic.Andpd, Mnemonic.Andnps, Mnemonic.Andnpd,
        // Integer arithmetic and compares.
        Mnemonic.Pcmpeqb, Mnemonic.Pcmpeqw, Mnemonic.Pcmpeqd, Mnemonic.Pcmpgtb, Mnemonic.Pcmpgtw, Mnemonic.Pcmpgtd,
        Mnemonic.Paddb, Mnemonic.Paddw, Mnemonic.Paddd, Mnemonic.Paddq, Mnemonic.Psubb, Mnemonic.Psubw, Mnemonic.Psubd,
        Mnemonic.Psubq, Mnemonic.Paddsb, Mnemonic.Paddsw, Mnemonic.Paddusb, Mnemonic.Paddusw, Mnemonic.Psubsb,
        Mnemonic.Psubsw, Mnemonic.Psubusb, Mnemonic.Psubusw, Mnemonic.Pminub, Mnemonic.Pmaxub, Mnemonic.Pminsw,
        Mnemonic.Pmaxsw, Mnemonic.Pavgb, Mnemonic.Pavgw, Mnemonic.Pmullw, Mnemonic.Pmulhw, Mnemonic.Pmulhuw,
        Mnemonic.Pmuludq, Mnemonic.Pmaddwd, Mnemonic.Psadbw,
        // Shifts.
        Mnemonic.Psllw, Mnemonic.Pslld, Mnemonic.Psllq, Mnemonic.Psrlw, Mnemonic.Psrld, Mnemonic.Psrlq, Mnemonic.Psraw,
        Mnemonic.Psrad, Mnemonic.Pslldq, Mnemonic.Psrldq,
        // Shuffles, unpacks, packs.
        Mnemonic.Pshufd, Mnemonic.Pshuflw, Mnemonic.Pshufhw, Mnemonic.Shufps, Mnemonic.Shufpd, Mnemonic.Punpcklbw,
        Mnemonic.Punpcklwd, Mnemonic.Punpckldq, Mnemonic.Punpcklqdq, Mnemonic.Punpckhbw, Mnemonic.Punpckhwd,
        Mnemonic.Punpckhdq, Mnemonic.Punpckhqdq, Mnemonic.Unpcklps, Mnemonic.Unpckhps, Mnemonic.Unpcklpd,
        Mnemonic.Unpckhpd, Mnemonic.Packsswb, Mnemonic.Packssdw, Mnemonic.Packuswb,
        // SSSE3.
        Mnemonic.Pshufb, Mnemonic.Palignr, Mnemonic.Pabsb, Mnemonic.Pabsw, Mnemonic.Pabsd, Mnemonic.Psignb,
        Mnemonic.Psignw, Mnemonic.Psignd, Mnemonic.Phaddw, Mnemonic.Phaddd, Mnemonic.Phsubw, Mnemonic.Phsubd,
        Mnemonic.Pmaddubsw, Mnemonic.Pmulhrsw,
        // SSE4.1 (and PCMPGTQ of SSE4.2).
        Mnemonic.Ptest, Mnemonic.Pminsb, Mnemonic.Pminsd, Mnemonic.Pminuw, Mnemonic.Pminud, Mnemonic.Pmaxsb,
        Mnemonic.Pmaxsd, Mnemonic.Pmaxuw, Mnemonic.Pmaxud, Mnemonic.Pmulld, Mnemonic.Pmuldq, Mnemonic.Pcmpeqq,
        Mnemonic.Pcmpgtq, Mnemonic.Packusdw, Mnemonic.Pblendw, Mnemonic.Pmovzxbw, Mnemonic.Pmovzxbd,
        Mnemonic.Pmovzxbq, Mnemonic.Pmovzxwd, Mnemonic.Pmovzxwq, Mnemonic.Pmovzxdq, Mnemonic.Pmovsxbw,
        Mnemonic.Pmovsxbd, Mnemonic.Pmovsxbq, Mnemonic.Pmovsxwd, Mnemonic.Pmovsxwq, Mnemonic.Pmovsxdq,
    ];

    public static bool Contains(Mnemonic m) => Forms.Contains(m);

    /// <summary>PMOVZX/PMOVSX: the destination is written whole from the source alone.</summary>
    public static bool IsWidening(Mnemonic m) => m is Mnemonic.Pmovzxbw or Mnemonic.Pmovzxbd or Mnemonic.Pmovzxbq
        or Mnemonic.Pmovzxwd or Mnemonic.Pmovzxwq or Mnemonic.Pmovzxdq or Mnemonic.Pmovsxbw or Mnemonic.Pmovsxbd
        or Mnemonic.Pmovsxbq or Mnemonic.Pmovsxwd or Mnemonic.Pmovsxwq or Mnemonic.Pmovsxdq;

    /// <summary>Every mnemonic taken (tests).</summary>
    public static IReadOnlyCollection<Mnemonic> All => Forms;
}
