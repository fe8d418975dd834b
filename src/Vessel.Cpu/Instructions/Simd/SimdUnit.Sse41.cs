using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Iced.Intel;
using Vessel.Cpu.Fpu;

namespace Vessel.Cpu;

/// <summary>SSE4.1 forms with an immediate (ROUNDxx, DPPS/DPPD, INSERTPS, EXTRACTPS, MPSADBW), the SSE
/// approximations RCPxS/RSQRTxS and MASKMOVDQU.</summary>
internal sealed partial class SimdUnit
{
    private bool TrySse41(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Roundps: CheckSse(); SseRound(ref ins, false, false); return true;
            case Mnemonic.Roundpd: CheckSse(); SseRound(ref ins, true, false); return true;
            case Mnemonic.Roundss: CheckSse(); SseRound(ref ins, false, true); return true;
            case Mnemonic.Roundsd: CheckSse(); SseRound(ref ins, true, true); return true;
            case Mnemonic.Dpps: CheckSse(); SseDotProduct(ref ins, false); return true;
            case Mnemonic.Dppd: CheckSse(); SseDotProduct(ref ins, true); return true;
            case Mnemonic.Insertps:
            {
                CheckSse();
                int imm = ins.Immediate8;
                uint v = ins.Op1Kind == OpKind.Register
                    ? Xmm[XmmIndex(ins.Op1Register)].AsUInt32().GetElement((imm >> 6) & 3)
                    : (uint)ReadMemoryOperand(ref ins, 4);
                var d = Xmm0(ref ins).AsUInt32().WithElement((imm >> 4) & 3, v);
                for (int i = 0; i < 4; i++) if ((imm >> i & 1) != 0) d = d.WithElement(i, 0u);
                Xmm0(ref ins) = d.AsByte();
                return true;
            }
            case Mnemonic.Extractps:
            {
                CheckSse();
                uint v = Xmm[XmmIndex(ins.Op1Register)].AsUInt32().GetElement(ins.Immediate8 & 3);
                if (ins.Op0Kind == OpKind.Register) WriteGpr(ins.Op0Register, v);
                else WriteMemoryOperand(ref ins, 4, v);
                return true;
            }
            case Mnemonic.Mpsadbw:
            {
                CheckSse();
                Vector128<byte> a = Xmm0(ref ins), b = ReadXmmOperand(ref ins, 1);
                int imm = ins.Immediate8, aOff = (imm >> 2 & 1) * 4, bOff = (imm & 3) * 4;
                Vector128<ushort> r = default;
                for (int i = 0; i < 8; i++)
                {
                    int sum = 0;
                    for (int j = 0; j < 4; j++) sum += Math.Abs(a.GetElement(aOff + i + j) - b.GetElement(bOff + j));
                    r = r.WithElement(i, (ushort)sum);
                }
                Xmm0(ref ins) = r.AsByte();
                return true;
            }
            // The approximations are the host's own (as under hardware virtualisation): they are
            // implementation-specific and depend on no MXCSR field.
            case Mnemonic.Rcpps: CheckSse(); Xmm0(ref ins) = Sse.Reciprocal(ReadXmmOperand(ref ins, 1).AsSingle()).AsByte(); return true;
            case Mnemonic.Rsqrtps: CheckSse(); Xmm0(ref ins) = Sse.ReciprocalSqrt(ReadXmmOperand(ref ins, 1).AsSingle()).AsByte(); return true;
            case Mnemonic.Rcpss:
                CheckSse();
                Xmm0(ref ins) = Sse.ReciprocalScalar(Xmm0(ref ins).AsSingle(), ReadXmmOperand(ref ins, 1).AsSingle()).AsByte();
                return true;
            case Mnemonic.Rsqrtss:
                CheckSse();
                Xmm0(ref ins) = Sse.ReciprocalSqrtScalar(Xmm0(ref ins).AsSingle(), ReadXmmOperand(ref ins, 1).AsSingle()).AsByte();
                return true;
            case Mnemonic.Maskmovdqu:
                CheckSse();
                MaskedStore(ref ins, Xmm[XmmIndex(ins.Op1Register)], Xmm[XmmIndex(ins.Op2Register)], 16);
                return true;
        }
        return false;
    }

    /// <summary>ROUNDPS/PD/SS/SD: imm8[1:0] is the rounding mode unless imm8[2] selects MXCSR.RC; imm8[3]
    /// suppresses the precision exception. Only a signalling NaN raises IE; no denormal exception.</summary>
    private void SseRound(ref Instruction ins, bool dbl, bool scalar)
    {
        Vector128<byte> src = ReadXmmOperand(ref ins, 1), r = scalar ? Xmm0(ref ins) : src;
        int imm = ins.Immediate8;
        int rc = (imm & 4) != 0 ? SseArith.Rc(Mxcsr) : imm & 3;
        uint flags = 0;
        int lanes = scalar ? 1 : dbl ? 2 : 4;
        for (int i = 0; i < lanes; i++)
            r = WithLane(r, i, SseArith.RoundToIntegral(Lane(src, i, dbl), dbl, rc, Mxcsr, ref flags), dbl);
        if ((imm & 8) != 0) flags &= ~FpFlags.Precision;
        CommitSimdFlags(flags);
        Xmm0(ref ins) = r;
    }

    /// <summary>DPPS/DPPD: products of the lanes imm8[7:4] selects (others +0.0), summed pairwise, the sum
    /// written to the lanes imm8[3:0] selects (others +0.0); every step rounds per MXCSR.</summary>
    private void SseDotProduct(ref Instruction ins, bool dbl)
    {
        Vector128<byte> a = Xmm0(ref ins), b = ReadXmmOperand(ref ins, 1);
        int imm = ins.Immediate8, lanes = dbl ? 2 : 4;
        uint flags = 0, m = Mxcsr;
        Span<ulong> t = stackalloc ulong[4];
        for (int i = 0; i < lanes; i++)
            t[i] = (imm >> (4 + i) & 1) != 0 ? SseArith.Arith(SseArith.Op.Mul, Lane(a, i, dbl), Lane(b, i, dbl), dbl, m, ref flags) : 0;
        ulong sum = SseArith.Arith(SseArith.Op.Add, t[0], t[1], dbl, m, ref flags);
        if (!dbl)
            sum = SseArith.Arith(SseArith.Op.Add, sum, SseArith.Arith(SseArith.Op.Add, t[2], t[3], dbl, m, ref flags), dbl, m, ref flags);
        CommitSimdFlags(flags);
        Vector128<byte> r = Vector128<byte>.Zero;
        for (int i = 0; i < lanes; i++) if ((imm >> i & 1) != 0) r = WithLane(r, i, sum, dbl);
        Xmm0(ref ins) = r;
    }

    /// <summary>MASKMOVQ/MASKMOVDQU: stores the first <paramref name="bytes"/> bytes of <paramref name="value"/> whose
    /// mask byte has its top bit set, to DS:rDI (segment overridable); the other bytes are not touched.</summary>
    private void MaskedStore(ref Instruction ins, Vector128<byte> value, Vector128<byte> mask, int bytes)
    {
        int seg = SegmentIndex(ins.MemorySegment);
        ulong rdi = Gpr[7];
        ulong addrMask = ins.Op0Kind switch { OpKind.MemorySegRDI => ulong.MaxValue, OpKind.MemorySegEDI => 0xFFFF_FFFFUL, _ => 0xFFFFUL };
        for (int i = 0; i < bytes; i++)
        {
            if ((mask.GetElement(i) & 0x80) == 0) continue;
            ulong lin = SegmentedLinear(seg, (rdi + (ulong)i) & addrMask, 1, AccessKind.Write);
            WriteLinear(lin, 1, value.GetElement(i), UserAccess);
        }
    }
}
