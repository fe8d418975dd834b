using System.Numerics;
using System.Runtime.Intrinsics;
using Iced.Intel;
using RflagsBits = Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>SSE4.2 string compares PCMPESTRI/PCMPESTRM/PCMPISTRI/PCMPISTRM. imm8 selects the element format
/// (bits 1:0: unsigned/signed bytes/words), the aggregation (bits 3:2: equal any, ranges, equal each, equal
/// ordered), the polarity (bits 5:4) and the output (bit 6: most significant index / expanded mask).</summary>
internal sealed partial class SimdUnit
{
    private bool TrySseString(ref Instruction ins)
    {
        bool explicitLength, index;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Pcmpestri: case Mnemonic.Pcmpestri64: explicitLength = true; index = true; break;
            case Mnemonic.Pcmpestrm: case Mnemonic.Pcmpestrm64: explicitLength = true; index = false; break;
            case Mnemonic.Pcmpistri: explicitLength = false; index = true; break;
            case Mnemonic.Pcmpistrm: explicitLength = false; index = false; break;
            default: return false;
        }
        CheckSse();
        Vector128<byte> a = Xmm0(ref ins), b = ReadXmmOperand(ref ins, 1);
        int imm = ins.Immediate8;
        bool words = (imm & 1) != 0, signed = (imm & 2) != 0;
        int n = words ? 8 : 16;
        int lenA, lenB;
        if (explicitLength)
        {
            bool wide = ins.Mnemonic is Mnemonic.Pcmpestri64 or Mnemonic.Pcmpestrm64;
            lenA = ExplicitStringLength(Gpr[0], wide, n);
            lenB = ExplicitStringLength(Gpr[2], wide, n);
        }
        else
        {
            lenA = ImplicitStringLength(a, words);
            lenB = ImplicitStringLength(b, words);
        }
        uint res = StringCompare(a, b, lenA, lenB, imm, n, words, signed);
        uint all = (1u << n) - 1;
        res = ((imm >> 4) & 3) switch
        {
            1 => ~res & all,
            3 => res ^ ((1u << lenB) - 1),
            _ => res,
        };
        if (index)
        {
            uint ecx = res == 0 ? (uint)n : (imm & 0x40) != 0 ? (uint)(31 - BitOperations.LeadingZeroCount(res)) : (uint)BitOperations.TrailingZeroCount(res);
            Gpr[1] = ecx;
        }
        else if ((imm & 0x40) == 0)
        {
            Xmm[0] = Vector128.CreateScalar(res).AsByte();
        }
        else
        {
            Vector128<byte> m = default;
            for (int j = 0; j < n; j++)
            {
                if ((res >> j & 1) == 0) continue;
                m = words ? m.AsUInt16().WithElement(j, (ushort)0xFFFF).AsByte() : m.WithElement(j, (byte)0xFF);
            }
            Xmm[0] = m;
        }
        ulong f = (res != 0 ? RflagsBits.Cf : 0) | (lenB < n ? RflagsBits.Zf : 0) | (lenA < n ? RflagsBits.Sf : 0)
                  | ((res & 1) != 0 ? RflagsBits.Of : 0);
        SetArithmeticFlags(f);
        return true;
    }

    /// <summary>|EAX| or |EDX| (RAX/RDX with REX.W), saturated to the element count.</summary>
    private static int ExplicitStringLength(ulong reg, bool wide, int n)
    {
        long v = wide ? (long)reg : (int)(uint)reg;
        if (v == long.MinValue) return n;
        v = Math.Abs(v);
        return v > n ? n : (int)v;
    }

    private static int ImplicitStringLength(Vector128<byte> v, bool words)
    {
        int n = words ? 8 : 16;
        for (int i = 0; i < n; i++)
            if ((words ? v.AsUInt16().GetElement(i) : v.GetElement(i)) == 0) return i;
        return n;
    }

    private static int StringElement(Vector128<byte> v, int i, bool words, bool signed) => words
        ? signed ? v.AsInt16().GetElement(i) : v.AsUInt16().GetElement(i)
        : signed ? (sbyte)v.GetElement(i) : v.GetElement(i);

    /// <summary>IntRes1 of the SDM: one bit per element, before polarity. Element i of the first operand is valid
    /// when i &lt; lenA, element j of the second when j &lt; lenB.</summary>
    private static uint StringCompare(Vector128<byte> a, Vector128<byte> b, int lenA, int lenB, int imm, int n, bool words, bool signed)
    {
        uint res = 0;
        switch ((imm >> 2) & 3)
        {
            case 0: // equal any: b[j] is one of the valid a[i]
                for (int j = 0; j < lenB; j++)
                {
                    int y = StringElement(b, j, words, signed);
                    for (int i = 0; i < lenA; i++)
                        if (StringElement(a, i, words, signed) == y) { res |= 1u << j; break; }
                }
                break;
            case 1: // ranges: a holds (low, high) pairs; a pair needs both ends valid
                for (int j = 0; j < lenB; j++)
                {
                    int y = StringElement(b, j, words, signed);
                    for (int i = 0; i + 1 < lenA; i += 2)
                        if (y >= StringElement(a, i, words, signed) && y <= StringElement(a, i + 1, words, signed)) { res |= 1u << j; break; }
                }
                break;
            case 2: // equal each: both invalid compare true, one invalid false
                for (int i = 0; i < n; i++)
                {
                    bool va = i < lenA, vb = i < lenB;
                    bool eq = va && vb ? StringElement(a, i, words, signed) == StringElement(b, i, words, signed) : !va && !vb;
                    if (eq) res |= 1u << i;
                }
                break;
            default: // equal ordered: a (up to its length) occurs in b starting at j; an invalid a element matches anything
                for (int j = 0; j < n; j++)
                {
                    bool match = true;
                    for (int k = 0; j + k < n && k < lenA; k++)
                    {
                        if (j + k >= lenB || StringElement(a, k, words, signed) != StringElement(b, j + k, words, signed)) { match = false; break; }
                    }
                    if (match) res |= 1u << j;
                }
                break;
        }
        return res;
    }
}
