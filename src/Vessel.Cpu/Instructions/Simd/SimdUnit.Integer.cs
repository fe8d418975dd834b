using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Iced.Intel;

namespace Vessel.Cpu;

/// <summary>Packed integer and bitwise SSE2..SSE4.2 instructions, computed with the host's own SSE
/// (the results are exact integers, so the host is bit-for-bit the reference).</summary>
internal sealed partial class SimdUnit
{
    /// <summary>The two-operand packed forms MMX has too (on the low quadword, see <see cref="MmxBinary"/>).</summary>
    private static bool IsSharedPackedBinary(Mnemonic m) => m is Mnemonic.Packsswb or Mnemonic.Packssdw or Mnemonic.Packuswb
        or Mnemonic.Phaddw or Mnemonic.Phaddd or Mnemonic.Phaddsw or Mnemonic.Phsubw or Mnemonic.Phsubd or Mnemonic.Phsubsw
        or Mnemonic.Punpckhbw or Mnemonic.Punpckhwd or Mnemonic.Punpckhdq or Mnemonic.Pshufb
        or Mnemonic.Paddb or Mnemonic.Paddw or Mnemonic.Paddd or Mnemonic.Paddq
        or Mnemonic.Paddsb or Mnemonic.Paddsw or Mnemonic.Paddusb or Mnemonic.Paddusw
        or Mnemonic.Psubb or Mnemonic.Psubw or Mnemonic.Psubd or Mnemonic.Psubq
        or Mnemonic.Psubsb or Mnemonic.Psubsw or Mnemonic.Psubusb or Mnemonic.Psubusw
        or Mnemonic.Pmullw or Mnemonic.Pmulhw or Mnemonic.Pmulhuw or Mnemonic.Pmuludq or Mnemonic.Pmaddwd
        or Mnemonic.Pavgb or Mnemonic.Pavgw or Mnemonic.Pminub or Mnemonic.Pmaxub or Mnemonic.Pminsw or Mnemonic.Pmaxsw
        or Mnemonic.Psadbw or Mnemonic.Pcmpeqb or Mnemonic.Pcmpeqw or Mnemonic.Pcmpeqd
        or Mnemonic.Pcmpgtb or Mnemonic.Pcmpgtw or Mnemonic.Pcmpgtd
        or Mnemonic.Pand or Mnemonic.Pandn or Mnemonic.Por or Mnemonic.Pxor
        or Mnemonic.Punpcklbw or Mnemonic.Punpcklwd or Mnemonic.Punpckldq
        or Mnemonic.Psllw or Mnemonic.Pslld or Mnemonic.Psllq or Mnemonic.Psrlw or Mnemonic.Psrld or Mnemonic.Psrlq
        or Mnemonic.Psraw or Mnemonic.Psrad
        or Mnemonic.Pmaddubsw or Mnemonic.Pmulhrsw or Mnemonic.Psignb or Mnemonic.Psignw or Mnemonic.Psignd;

    /// <summary>The two-operand packed forms only XMM registers have.</summary>
    private static bool IsXmmOnlyPackedBinary(Mnemonic m) => m is Mnemonic.Andps or Mnemonic.Andpd or Mnemonic.Andnps
        or Mnemonic.Andnpd or Mnemonic.Orps or Mnemonic.Orpd or Mnemonic.Xorps or Mnemonic.Xorpd
        or Mnemonic.Punpcklqdq or Mnemonic.Punpckhqdq
        or Mnemonic.Unpcklps or Mnemonic.Unpckhps or Mnemonic.Unpcklpd or Mnemonic.Unpckhpd
        or Mnemonic.Pslldq or Mnemonic.Psrldq
        or Mnemonic.Pminsb or Mnemonic.Pminsd or Mnemonic.Pmaxsb or Mnemonic.Pmaxsd
        or Mnemonic.Pminuw or Mnemonic.Pminud or Mnemonic.Pmaxuw or Mnemonic.Pmaxud
        or Mnemonic.Pmulld or Mnemonic.Pmuldq or Mnemonic.Pcmpeqq or Mnemonic.Pcmpgtq or Mnemonic.Packusdw;

    /// <summary>Two-operand packed op: xmm0 = f(xmm0, source); false if the mnemonic is not one.</summary>
    private bool TrySsePackedBinary(ref Instruction ins)
    {
        if (!IsSharedPackedBinary(ins.Mnemonic) && !IsXmmOnlyPackedBinary(ins.Mnemonic)) return false;
        CheckSse();
        Vector128<byte> a = Xmm0(ref ins);
        bool immShift = ins.OpCount == 2 && ins.Op1Kind == OpKind.Immediate8;
        Vector128<byte> b = immShift ? Vector128.CreateScalar((ulong)ins.Immediate8).AsByte() : ReadXmmOperand(ref ins, 1);
        byte imm = immShift ? ins.Immediate8 : (byte)0;
        Xmm0(ref ins) = PackedBinary(ins.Mnemonic, a, b, imm);
        return true;
    }

    /// <summary>The 128-bit result of a two-operand packed op (MMX forms reuse it on the low quadword).</summary>
    private static Vector128<byte> PackedBinary(Mnemonic mnemonic, Vector128<byte> a, Vector128<byte> b, byte imm)
    {
        return mnemonic switch
        {
            Mnemonic.Paddb => Sse2.Add(a, b),
            Mnemonic.Paddw => Sse2.Add(a.AsUInt16(), b.AsUInt16()).AsByte(),
            Mnemonic.Paddd => Sse2.Add(a.AsUInt32(), b.AsUInt32()).AsByte(),
            Mnemonic.Paddq => Sse2.Add(a.AsUInt64(), b.AsUInt64()).AsByte(),
            Mnemonic.Paddsb => Sse2.AddSaturate(a.AsSByte(), b.AsSByte()).AsByte(),
            Mnemonic.Paddsw => Sse2.AddSaturate(a.AsInt16(), b.AsInt16()).AsByte(),
            Mnemonic.Paddusb => Sse2.AddSaturate(a, b),
            Mnemonic.Paddusw => Sse2.AddSaturate(a.AsUInt16(), b.AsUInt16()).AsByte(),
            Mnemonic.Psubb => Sse2.Subtract(a, b),
            Mnemonic.Psubw => Sse2.Subtract(a.AsUInt16(), b.AsUInt16()).AsByte(),
            Mnemonic.Psubd => Sse2.Subtract(a.AsUInt32(), b.AsUInt32()).AsByte(),
            Mnemonic.Psubq => Sse2.Subtract(a.AsUInt64(), b.AsUInt64()).AsByte(),
            Mnemonic.Psubsb => Sse2.SubtractSaturate(a.AsSByte(), b.AsSByte()).AsByte(),
            Mnemonic.Psubsw => Sse2.SubtractSaturate(a.AsInt16(), b.AsInt16()).AsByte(),
            Mnemonic.Psubusb => Sse2.SubtractSaturate(a, b),
            Mnemonic.Psubusw => Sse2.SubtractSaturate(a.AsUInt16(), b.AsUInt16()).AsByte(),
            Mnemonic.Pmullw => Sse2.MultiplyLow(a.AsInt16(), b.AsInt16()).AsByte(),
            Mnemonic.Pmulhw => Sse2.MultiplyHigh(a.AsInt16(), b.AsInt16()).AsByte(),
            Mnemonic.Pmulhuw => Sse2.MultiplyHigh(a.AsUInt16(), b.AsUInt16()).AsByte(),
            Mnemonic.Pmuludq => Sse2.Multiply(a.AsUInt32(), b.AsUInt32()).AsByte(),
            Mnemonic.Pmaddwd => Sse2.MultiplyAddAdjacent(a.AsInt16(), b.AsInt16()).AsByte(),
            Mnemonic.Pavgb => Sse2.Average(a, b),
            Mnemonic.Pavgw => Sse2.Average(a.AsUInt16(), b.AsUInt16()).AsByte(),
            Mnemonic.Pminub => Sse2.Min(a, b),
            Mnemonic.Pmaxub => Sse2.Max(a, b),
            Mnemonic.Pminsw => Sse2.Min(a.AsInt16(), b.AsInt16()).AsByte(),
            Mnemonic.Pmaxsw => Sse2.Max(a.AsInt16(), b.AsInt16()).AsByte(),
            Mnemonic.Psadbw => Sse2.SumAbsoluteDifferences(a, b).AsByte(),
            Mnemonic.Pcmpeqb => Sse2.CompareEqual(a, b),
            Mnemonic.Pcmpeqw => Sse2.CompareEqual(a.AsUInt16(), b.AsUInt16()).AsByte(),
            Mnemonic.Pcmpeqd => Sse2.CompareEqual(a.AsUInt32(), b.AsUInt32()).AsByte(),
            Mnemonic.Pcmpgtb => Sse2.CompareGreaterThan(a.AsSByte(), b.AsSByte()).AsByte(),
            Mnemonic.Pcmpgtw => Sse2.CompareGreaterThan(a.AsInt16(), b.AsInt16()).AsByte(),
            Mnemonic.Pcmpgtd => Sse2.CompareGreaterThan(a.AsInt32(), b.AsInt32()).AsByte(),
            Mnemonic.Pand or Mnemonic.Andps or Mnemonic.Andpd => a & b,
            Mnemonic.Pandn or Mnemonic.Andnps or Mnemonic.Andnpd => ~a & b,
            Mnemonic.Por or Mnemonic.Orps or Mnemonic.Orpd => a | b,
            Mnemonic.Pxor or Mnemonic.Xorps or Mnemonic.Xorpd => a ^ b,
            Mnemonic.Packsswb => Sse2.PackSignedSaturate(a.AsInt16(), b.AsInt16()).AsByte(),
            Mnemonic.Packssdw => Sse2.PackSignedSaturate(a.AsInt32(), b.AsInt32()).AsByte(),
            Mnemonic.Packuswb => Sse2.PackUnsignedSaturate(a.AsInt16(), b.AsInt16()),
            Mnemonic.Punpcklbw => Sse2.UnpackLow(a, b),
            Mnemonic.Punpcklwd => Sse2.UnpackLow(a.AsUInt16(), b.AsUInt16()).AsByte(),
            Mnemonic.Punpckldq or Mnemonic.Unpcklps => Sse2.UnpackLow(a.AsUInt32(), b.AsUInt32()).AsByte(),
            Mnemonic.Punpcklqdq or Mnemonic.Unpcklpd => Sse2.UnpackLow(a.AsUInt64(), b.AsUInt64()).AsByte(),
            Mnemonic.Punpckhbw => Sse2.UnpackHigh(a, b),
            Mnemonic.Punpckhwd => Sse2.UnpackHigh(a.AsUInt16(), b.AsUInt16()).AsByte(),
            Mnemonic.Punpckhdq or Mnemonic.Unpckhps => Sse2.UnpackHigh(a.AsUInt32(), b.AsUInt32()).AsByte(),
            Mnemonic.Punpckhqdq or Mnemonic.Unpckhpd => Sse2.UnpackHigh(a.AsUInt64(), b.AsUInt64()).AsByte(),
            Mnemonic.Psllw => Sse2.ShiftLeftLogical(a.AsUInt16(), b.AsUInt16()).AsByte(),
            Mnemonic.Pslld => Sse2.ShiftLeftLogical(a.AsUInt32(), b.AsUInt32()).AsByte(),
            Mnemonic.Psllq => Sse2.ShiftLeftLogical(a.AsUInt64(), b.AsUInt64()).AsByte(),
            Mnemonic.Psrlw => Sse2.ShiftRightLogical(a.AsUInt16(), b.AsUInt16()).AsByte(),
            Mnemonic.Psrld => Sse2.ShiftRightLogical(a.AsUInt32(), b.AsUInt32()).AsByte(),
            Mnemonic.Psrlq => Sse2.ShiftRightLogical(a.AsUInt64(), b.AsUInt64()).AsByte(),
            Mnemonic.Psraw => Sse2.ShiftRightArithmetic(a.AsInt16(), b.AsInt16()).AsByte(),
            Mnemonic.Psrad => Sse2.ShiftRightArithmetic(a.AsInt32(), b.AsInt32()).AsByte(),
            Mnemonic.Pslldq => ByteShift(a, imm, left: true),
            Mnemonic.Psrldq => ByteShift(a, imm, left: false),
            Mnemonic.Pshufb => Ssse3.Shuffle(a, b),
            Mnemonic.Phaddw => Ssse3.HorizontalAdd(a.AsInt16(), b.AsInt16()).AsByte(),
            Mnemonic.Phaddd => Ssse3.HorizontalAdd(a.AsInt32(), b.AsInt32()).AsByte(),
            Mnemonic.Phaddsw => Ssse3.HorizontalAddSaturate(a.AsInt16(), b.AsInt16()).AsByte(),
            Mnemonic.Phsubw => Ssse3.HorizontalSubtract(a.AsInt16(), b.AsInt16()).AsByte(),
            Mnemonic.Phsubd => Ssse3.HorizontalSubtract(a.AsInt32(), b.AsInt32()).AsByte(),
            Mnemonic.Phsubsw => Ssse3.HorizontalSubtractSaturate(a.AsInt16(), b.AsInt16()).AsByte(),
            Mnemonic.Pmaddubsw => Ssse3.MultiplyAddAdjacent(a, b.AsSByte()).AsByte(),
            Mnemonic.Pmulhrsw => Ssse3.MultiplyHighRoundScale(a.AsInt16(), b.AsInt16()).AsByte(),
            Mnemonic.Psignb => Ssse3.Sign(a.AsSByte(), b.AsSByte()).AsByte(),
            Mnemonic.Psignw => Ssse3.Sign(a.AsInt16(), b.AsInt16()).AsByte(),
            Mnemonic.Psignd => Ssse3.Sign(a.AsInt32(), b.AsInt32()).AsByte(),
            Mnemonic.Pminsb => Sse41.Min(a.AsSByte(), b.AsSByte()).AsByte(),
            Mnemonic.Pminsd => Sse41.Min(a.AsInt32(), b.AsInt32()).AsByte(),
            Mnemonic.Pmaxsb => Sse41.Max(a.AsSByte(), b.AsSByte()).AsByte(),
            Mnemonic.Pmaxsd => Sse41.Max(a.AsInt32(), b.AsInt32()).AsByte(),
            Mnemonic.Pminuw => Sse41.Min(a.AsUInt16(), b.AsUInt16()).AsByte(),
            Mnemonic.Pminud => Sse41.Min(a.AsUInt32(), b.AsUInt32()).AsByte(),
            Mnemonic.Pmaxuw => Sse41.Max(a.AsUInt16(), b.AsUInt16()).AsByte(),
            Mnemonic.Pmaxud => Sse41.Max(a.AsUInt32(), b.AsUInt32()).AsByte(),
            Mnemonic.Pmulld => Sse41.MultiplyLow(a.AsInt32(), b.AsInt32()).AsByte(),
            Mnemonic.Pmuldq => Sse41.Multiply(a.AsInt32(), b.AsInt32()).AsByte(),
            Mnemonic.Pcmpeqq => Sse41.CompareEqual(a.AsInt64(), b.AsInt64()).AsByte(),
            Mnemonic.Pcmpgtq => Sse42.CompareGreaterThan(a.AsInt64(), b.AsInt64()).AsByte(),
            _ => Sse41.PackUnsignedSaturate(a.AsInt32(), b.AsInt32()).AsByte(), // Packusdw
        };
    }

    private static Vector128<byte> ByteShift(Vector128<byte> v, byte count, bool left)
    {
        if (count > 15) return Vector128<byte>.Zero;
        UInt128 x = new(v.AsUInt64().GetElement(1), v.AsUInt64().GetElement(0));
        x = left ? x << (count * 8) : x >> (count * 8);
        return Vector128.Create((ulong)x, (ulong)(x >> 64)).AsByte();
    }

    /// <summary>One-operand SSSE3/SSE4.1 forms: xmm0 = f(source).</summary>
    private bool TrySsePackedUnary(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Pabsb: case Mnemonic.Pabsw: case Mnemonic.Pabsd:
            case Mnemonic.Pmovsxbw: case Mnemonic.Pmovsxbd: case Mnemonic.Pmovsxbq: case Mnemonic.Pmovsxwd: case Mnemonic.Pmovsxwq: case Mnemonic.Pmovsxdq:
            case Mnemonic.Pmovzxbw: case Mnemonic.Pmovzxbd: case Mnemonic.Pmovzxbq: case Mnemonic.Pmovzxwd: case Mnemonic.Pmovzxwq: case Mnemonic.Pmovzxdq:
            case Mnemonic.Phminposuw:
                break;
            default:
                return false;
        }
        CheckSse();
        Xmm0(ref ins) = PackedUnary(ins.Mnemonic, ReadXmmOperand(ref ins, 1));
        return true;
    }

    private static Vector128<byte> PackedUnary(Mnemonic mnemonic, Vector128<byte> s)
    {
        return mnemonic switch
        {
            Mnemonic.Pabsb => Ssse3.Abs(s.AsSByte()),
            Mnemonic.Pabsw => Ssse3.Abs(s.AsInt16()).AsByte(),
            Mnemonic.Pabsd => Ssse3.Abs(s.AsInt32()).AsByte(),
            Mnemonic.Pmovsxbw => Sse41.ConvertToVector128Int16(s.AsSByte()).AsByte(),
            Mnemonic.Pmovsxbd => Sse41.ConvertToVector128Int32(s.AsSByte()).AsByte(),
            Mnemonic.Pmovsxbq => Sse41.ConvertToVector128Int64(s.AsSByte()).AsByte(),
            Mnemonic.Pmovsxwd => Sse41.ConvertToVector128Int32(s.AsInt16()).AsByte(),
            Mnemonic.Pmovsxwq => Sse41.ConvertToVector128Int64(s.AsInt16()).AsByte(),
            Mnemonic.Pmovsxdq => Sse41.ConvertToVector128Int64(s.AsInt32()).AsByte(),
            Mnemonic.Pmovzxbw => Sse41.ConvertToVector128Int16(s).AsByte(),
            Mnemonic.Pmovzxbd => Sse41.ConvertToVector128Int32(s).AsByte(),
            Mnemonic.Pmovzxbq => Sse41.ConvertToVector128Int64(s).AsByte(),
            Mnemonic.Pmovzxwd => Sse41.ConvertToVector128Int32(s.AsUInt16()).AsByte(),
            Mnemonic.Pmovzxwq => Sse41.ConvertToVector128Int64(s.AsUInt16()).AsByte(),
            Mnemonic.Pmovzxdq => Sse41.ConvertToVector128Int64(s.AsUInt32()).AsByte(),
            _ => Sse41.MinHorizontal(s.AsUInt16()).AsByte(),
        };
    }
}
