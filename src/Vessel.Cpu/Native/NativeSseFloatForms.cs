using Iced.Intel;

namespace Vessel.Cpu.Native;

/// <summary>The SSE floating-point mnemonics the native tier re-hosts (see NativeSseEmitter): arithmetic, compares,
/// conversions and rounding, whose result and exception flags depend on MXCSR. The host runs each with the guest's
/// MXCSR loaded (rounding, DAZ, FTZ; its sticky flags stored back), which gives what the interpreter computes in
/// software, bit for bit; a guest MXCSR with any exception unmasked hands the form to the interpreter, which raises
/// #XM at the instruction. The approximations (RCPxS, RSQRTxS) are the host's in the interpreter too.</summary>
internal static class NativeSseFloatForms
{
    private static readonly HashSet<Mnemonic> Forms =
    [
        // Arithmetic, scalar and packed.
        Mnemonic.Addss, Mnemonic.Addsd, Mnemonic.Addps, Mnemonic.Addpd, Mnemonic.Subss, Mnemonic.Subsd, Mnemonic.Subps,
        Mnemonic.Subpd, Mnemonic.Mulss, Mnemonic.Mulsd, Mnemonic.Mulps, Mnemonic.Mulpd, Mnemonic.Divss, Mnemonic.Divsd,
        Mnemonic.Divps, Mnemonic.Divpd, Mnemonic.Sqrtss, Mnemonic.Sqrtsd, Mnemonic.Sqrtps, Mnemonic.Sqrtpd,
        Mnemonic.Minss, Mnemonic.Minsd, Mnemonic.Minps, Mnemonic.Minpd, Mnemonic.Maxss, Mnemonic.Maxsd, Mnemonic.Maxps,
        Mnemonic.Maxpd,
        // Compares: into a mask, or into ZF, PF and CF.
        Mnemonic.Cmpss, Mnemonic.Cmpsd, Mnemonic.Cmpps, Mnemonic.Cmppd, Mnemonic.Comiss, Mnemonic.Comisd,
        Mnemonic.Ucomiss, Mnemonic.Ucomisd,
        // Conversions.
        Mnemonic.Cvtsi2ss, Mnemonic.Cvtsi2sd, Mnemonic.Cvtss2si, Mnemonic.Cvtsd2si, Mnemonic.Cvttss2si,
        Mnemonic.Cvttsd2si, Mnemonic.Cvtss2sd, Mnemonic.Cvtsd2ss, Mnemonic.Cvtps2pd, Mnemonic.Cvtpd2ps,
        Mnemonic.Cvtdq2ps, Mnemonic.Cvtdq2pd, Mnemonic.Cvtps2dq, Mnemonic.Cvttps2dq, Mnemonic.Cvtpd2dq,
        Mnemonic.Cvttpd2dq,
        // SSE3 horizontal and alternating forms; SSE4.1 rounding.
        Mnemonic.Addsubps, Mnemonic.Addsubpd, Mnemonic.Haddps, Mnemonic.Haddpd, Mnemonic.Hsubps, Mnemonic.Hsubpd,
        Mnemonic.Roundss, Mnemonic.Roundsd, Mnemonic.Roundps, Mnemonic.Roundpd,
        // The host's approximations.
        Mnemonic.Rcpss, Mnemonic.Rcpps, Mnemonic.Rsqrtss, Mnemonic.Rsqrtps,
    ];

    public static bool Contains(Mnemonic m) => Forms.Contains(m);

    /// <summary>COMISx/UCOMISx: they write the guest's ZF, PF and CF (and clear OF, SF, AF) and no register.</summary>
    public static bool SetsFlags(Mnemonic m) => m is Mnemonic.Comiss or Mnemonic.Comisd or Mnemonic.Ucomiss or Mnemonic.Ucomisd;

    /// <summary>The packed forms that write their whole XMM destination from the source alone.</summary>
    public static bool WritesWholeDestination(Mnemonic m) => m is Mnemonic.Sqrtps or Mnemonic.Sqrtpd or Mnemonic.Cvtps2pd
        or Mnemonic.Cvtpd2ps or Mnemonic.Cvtdq2ps or Mnemonic.Cvtdq2pd or Mnemonic.Cvtps2dq or Mnemonic.Cvttps2dq
        or Mnemonic.Cvtpd2dq or Mnemonic.Cvttpd2dq or Mnemonic.Roundps or Mnemonic.Roundpd or Mnemonic.Rcpps
        or Mnemonic.Rsqrtps;

    /// <summary>Every mnemonic taken (tests).</summary>
    public static IReadOnlyCollection<Mnemonic> All => Forms;
}
