using System.Runtime.Intrinsics;
using Iced.Intel;
using Vessel.Cpu.Fpu;
using Vessel.Hypervisor;
using RflagsBits = Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>SSE/SSE2/SSE3/SSE4.1 floating-point instructions, element by element through <see cref="SseArith"/>.</summary>
internal sealed partial class SimdUnit
{
    private static ulong Lane(Vector128<byte> v, int i, bool dbl) => dbl ? v.AsUInt64().GetElement(i) : v.AsUInt32().GetElement(i);

    private static Vector128<byte> WithLane(Vector128<byte> v, int i, ulong x, bool dbl) =>
        dbl ? v.AsUInt64().WithElement(i, x).AsByte() : v.AsUInt32().WithElement(i, (uint)x).AsByte();

    /// <summary>Adds the flags to MXCSR and raises #XM (or #UD without CR4.OSXMMEXCPT) when one is unmasked.
    /// Pre-computation exceptions (IE, DE, ZE) that are unmasked suppress the post-computation ones.</summary>
    private void CommitSimdFlags(uint flags)
    {
        uint unmasked = flags & ~(Mxcsr >> 7) & 0x3F;
        const uint pre = FpFlags.Invalid | FpFlags.Denormal | FpFlags.DivideByZero;
        if ((unmasked & pre) != 0) flags &= pre;
        Mxcsr |= flags;
        if (unmasked != 0) FaultNoCode((Cr4 & ControlRegisters.Cr4Osxmmexcpt) != 0 ? Vector.XM : Vector.UD);
    }


    private void SseArithmetic(ref Instruction ins, SseArith.Op op, bool dbl, bool scalar)
    {
        Vector128<byte> a = Xmm0(ref ins), b = ReadXmmOperand(ref ins, 1), r = a;
        uint flags = 0;
        int lanes = scalar ? 1 : dbl ? 2 : 4;
        for (int i = 0; i < lanes; i++)
            r = WithLane(r, i, SseArith.Arith(op, Lane(a, i, dbl), Lane(b, i, dbl), dbl, Mxcsr, ref flags), dbl);
        CommitSimdFlags(flags);
        Xmm0(ref ins) = r;
    }

    private void SseCompare(ref Instruction ins, bool dbl, bool scalar)
    {
        Vector128<byte> a = Xmm0(ref ins), b = ReadXmmOperand(ref ins, 1), r = a;
        int pred = (int)ins.GetImmediate(2) & 7;
        uint flags = 0;
        int lanes = scalar ? 1 : dbl ? 2 : 4;
        ulong ones = dbl ? ulong.MaxValue : 0xFFFF_FFFFUL;
        for (int i = 0; i < lanes; i++)
            r = WithLane(r, i, SseArith.ComparePredicate(pred, Lane(a, i, dbl), Lane(b, i, dbl), dbl, Mxcsr, ref flags) ? ones : 0, dbl);
        CommitSimdFlags(flags);
        Xmm0(ref ins) = r;
    }

    /// <summary>COMISS/COMISD (signal on any NaN) and UCOMISS/UCOMISD (signal on SNaN only): ZF, PF, CF.</summary>
    private void SseCompareFlags(ref Instruction ins, bool dbl, bool signalQuiet)
    {
        ulong a = Lane(Xmm0(ref ins), 0, dbl), b = Lane(ReadXmmOperand(ref ins, 1), 0, dbl);
        uint flags = 0;
        ulong f;
        if (SseArith.IsNaN(a, dbl) || SseArith.IsNaN(b, dbl))
        {
            if (signalQuiet || SseArith.IsSNaN(a, dbl) || SseArith.IsSNaN(b, dbl)) flags |= FpFlags.Invalid;
            f = RflagsBits.Zf | RflagsBits.Pf | RflagsBits.Cf;
        }
        else
        {
            int c = SseArith.Compare(SseArith.DenormalInput(a, dbl, Mxcsr, ref flags), SseArith.DenormalInput(b, dbl, Mxcsr, ref flags), dbl);
            f = c == 0 ? RflagsBits.Zf : c < 0 ? RflagsBits.Cf : 0;
        }
        CommitSimdFlags(flags);
        SetArithmeticFlags(f);
    }

    private void SseCvtIntToFloat(ref Instruction ins, bool dbl)
    {
        bool is64 = OperandSize(ref ins, 1) == 8;
        ulong raw = ins.Op1Kind == OpKind.Register ? ReadGpr(ins.Op1Register) : ReadMemoryOperand(ref ins, is64 ? 8 : 4);
        long v = is64 ? (long)raw : (int)(uint)raw;
        uint flags = 0;
        ulong r = SseArith.FromInteger(v, dbl, Mxcsr, ref flags);
        CommitSimdFlags(flags);
        Xmm0(ref ins) = WithLane(Xmm0(ref ins), 0, r, dbl);
    }

    private void SseCvtFloatToInt(ref Instruction ins, bool dbl, bool truncate)
    {
        bool is64 = RegisterTable.Size[(int)ins.Op0Register] == 8;
        ulong x = Lane(ReadXmmOperand(ref ins, 1), 0, dbl);
        uint flags = 0;
        ulong r = SseArith.ToInteger(x, dbl, truncate, is64, Mxcsr, ref flags);
        CommitSimdFlags(flags);
        WriteGpr(ins.Op0Register, r);
    }

    /// <summary>CVTSS2SD/CVTSD2SS (scalar) and CVTPS2PD/CVTPD2PS (packed).</summary>
    private void SseCvtPrecision(ref Instruction ins, bool fromDouble, bool scalar)
    {
        Vector128<byte> src = ReadXmmOperand(ref ins, 1);
        Vector128<byte> r = scalar ? Xmm0(ref ins) : Vector128<byte>.Zero;
        uint flags = 0;
        int lanes = scalar ? 1 : 2;
        for (int i = 0; i < lanes; i++)
            r = WithLane(r, i, SseArith.Convert(Lane(src, i, fromDouble), fromDouble, Mxcsr, ref flags), !fromDouble);
        CommitSimdFlags(flags);
        Xmm0(ref ins) = r;
    }

    /// <summary>CVTDQ2PS, CVTDQ2PD, CVT(T)PS2DQ, CVT(T)PD2DQ.</summary>
    private void SseCvtPacked(ref Instruction ins)
    {
        Vector128<byte> src = ReadXmmOperand(ref ins, 1), r = Vector128<byte>.Zero;
        uint flags = 0;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Cvtdq2ps:
                for (int i = 0; i < 4; i++) r = WithLane(r, i, SseArith.FromInteger((int)src.AsUInt32().GetElement(i), false, Mxcsr, ref flags), false);
                break;
            case Mnemonic.Cvtdq2pd:
                for (int i = 0; i < 2; i++) r = WithLane(r, i, SseArith.FromInteger((int)src.AsUInt32().GetElement(i), true, Mxcsr, ref flags), true);
                break;
            case Mnemonic.Cvtps2dq: case Mnemonic.Cvttps2dq:
                for (int i = 0; i < 4; i++)
                    r = WithLane(r, i, SseArith.ToInteger(Lane(src, i, false), false, ins.Mnemonic == Mnemonic.Cvttps2dq, false, Mxcsr, ref flags), false);
                break;
            default: // Cvtpd2dq, Cvttpd2dq
                for (int i = 0; i < 2; i++)
                    r = WithLane(r, i, SseArith.ToInteger(Lane(src, i, true), true, ins.Mnemonic == Mnemonic.Cvttpd2dq, false, Mxcsr, ref flags), false);
                break;
        }
        CommitSimdFlags(flags);
        Xmm0(ref ins) = r;
    }

    /// <summary>ADDSUBPS/PD, HADDPS/PD, HSUBPS/PD (SSE3).</summary>
    private void SseHorizontal(ref Instruction ins, bool dbl)
    {
        Vector128<byte> a = Xmm0(ref ins), b = ReadXmmOperand(ref ins, 1), r = Vector128<byte>.Zero;
        uint flags = 0;
        int lanes = dbl ? 2 : 4;
        for (int i = 0; i < lanes; i++)
        {
            ulong x, y;
            SseArith.Op op;
            if (ins.Mnemonic is Mnemonic.Addsubps or Mnemonic.Addsubpd)
            {
                x = Lane(a, i, dbl); y = Lane(b, i, dbl);
                op = (i & 1) == 0 ? SseArith.Op.Sub : SseArith.Op.Add;
            }
            else
            {
                Vector128<byte> s = i < lanes / 2 ? a : b;
                int j = (i % (lanes / 2)) * 2;
                x = Lane(s, j, dbl); y = Lane(s, j + 1, dbl);
                op = ins.Mnemonic is Mnemonic.Haddps or Mnemonic.Haddpd ? SseArith.Op.Add : SseArith.Op.Sub;
            }
            r = WithLane(r, i, SseArith.Arith(op, x, y, dbl, Mxcsr, ref flags), dbl);
        }
        CommitSimdFlags(flags);
        Xmm0(ref ins) = r;
    }
}
