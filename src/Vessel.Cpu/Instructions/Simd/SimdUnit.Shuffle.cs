using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Iced.Intel;
using RflagsBits = Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu;

/// <summary>Shuffles, inserts/extracts, masks, blends, PTEST, CRC32, LDMXCSR/STMXCSR and other forms with an
/// immediate or a GPR.</summary>
internal sealed partial class SimdUnit
{
    private bool TrySseMisc(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Pshufd: case Mnemonic.Pshuflw: case Mnemonic.Pshufhw: CheckSse(); ShuffleElements(ref ins); return true;
            case Mnemonic.Shufps: case Mnemonic.Shufpd: CheckSse(); ShuffleTwoSources(ref ins); return true;
            case Mnemonic.Palignr: CheckSse(); AlignRight(ref ins); return true;
            case Mnemonic.Pmovmskb: case Mnemonic.Movmskps: case Mnemonic.Movmskpd: CheckSse(); MoveMask(ref ins); return true;
            case Mnemonic.Pextrb: case Mnemonic.Pextrw: case Mnemonic.Pextrd: case Mnemonic.Pextrq: CheckSse(); ExtractElement(ref ins); return true;
            case Mnemonic.Pinsrb: case Mnemonic.Pinsrw: case Mnemonic.Pinsrd: case Mnemonic.Pinsrq: CheckSse(); InsertElement(ref ins); return true;
            case Mnemonic.Ptest: CheckSse(); PackedTest(ref ins); return true;
            case Mnemonic.Pblendw: case Mnemonic.Blendps: case Mnemonic.Blendpd: CheckSse(); BlendImmediate(ref ins); return true;
            case Mnemonic.Pblendvb: case Mnemonic.Blendvps: case Mnemonic.Blendvpd: CheckSse(); BlendVariable(ref ins); return true;
            case Mnemonic.Crc32: Crc32(ref ins); return true;
            case Mnemonic.Ldmxcsr: ExecuteLdmxcsr(ref ins); return true;
            case Mnemonic.Stmxcsr: ExecuteStmxcsr(ref ins); return true;
        }
        return false;
    }

    /// <summary>PSHUFD (doublewords) and PSHUFLW/PSHUFHW (the low or high four words; the other half copied).</summary>
    private void ShuffleElements(ref Instruction ins)
    {
        Vector128<byte> s = ReadXmmOperand(ref ins, 1);
        int imm = ins.Immediate8;
        Vector128<byte> r;
        if (ins.Mnemonic == Mnemonic.Pshufd)
        {
            var d = s.AsUInt32();
            r = Vector128.Create(d.GetElement(imm & 3), d.GetElement((imm >> 2) & 3), d.GetElement((imm >> 4) & 3), d.GetElement((imm >> 6) & 3)).AsByte();
        }
        else
        {
            var w = s.AsUInt16();
            int o = ins.Mnemonic == Mnemonic.Pshuflw ? 0 : 4;
            var res = w;
            for (int i = 0; i < 4; i++) res = res.WithElement(o + i, w.GetElement(o + ((imm >> (2 * i)) & 3)));
            r = res.AsByte();
        }
        Xmm0(ref ins) = r;
    }

    /// <summary>SHUFPS/SHUFPD: the low result elements from the destination, the high ones from the source.</summary>
    private void ShuffleTwoSources(ref Instruction ins)
    {
        int imm = ins.Immediate8;
        if (ins.Mnemonic == Mnemonic.Shufps)
        {
            var a = Xmm0(ref ins).AsUInt32(); var b = ReadXmmOperand(ref ins, 1).AsUInt32();
            Xmm0(ref ins) = Vector128.Create(a.GetElement(imm & 3), a.GetElement((imm >> 2) & 3), b.GetElement((imm >> 4) & 3), b.GetElement((imm >> 6) & 3)).AsByte();
            return;
        }
        var x = Xmm0(ref ins).AsUInt64(); var y = ReadXmmOperand(ref ins, 1).AsUInt64();
        Xmm0(ref ins) = Vector128.Create(x.GetElement(imm & 1), y.GetElement((imm >> 1) & 1)).AsByte();
    }

    /// <summary>PALIGNR: 16 bytes from the destination:source pair shifted right by imm8 bytes.</summary>
    private void AlignRight(ref Instruction ins)
    {
        var a = Xmm0(ref ins); var b = ReadXmmOperand(ref ins, 1);
        int n = ins.Immediate8;
        Span<byte> buf = stackalloc byte[64];
        b.CopyTo(buf); a.CopyTo(buf[16..]);
        Xmm0(ref ins) = n >= 32 ? Vector128<byte>.Zero : Vector128.Create(buf.Slice(n, 16));
    }

    /// <summary>PMOVMSKB, MOVMSKPS, MOVMSKPD: the elements' sign bits into a GPR.</summary>
    private void MoveMask(ref Instruction ins)
    {
        Vector128<byte> s = Xmm[XmmIndex(ins.Op1Register)];
        int mask = ins.Mnemonic switch
        {
            Mnemonic.Pmovmskb => Sse2.MoveMask(s),
            Mnemonic.Movmskps => Sse.MoveMask(s.AsSingle()),
            _ => Sse2.MoveMask(s.AsDouble()),
        };
        WriteGpr(ins.Op0Register, (uint)mask);
    }

    /// <summary>The size in bytes of PEXTRx/PINSRx's element.</summary>
    private static int ElementSize(Mnemonic m) => m switch
    {
        Mnemonic.Pextrb or Mnemonic.Pinsrb => 1,
        Mnemonic.Pextrw or Mnemonic.Pinsrw => 2,
        Mnemonic.Pextrd or Mnemonic.Pinsrd => 4,
        _ => 8,
    };

    private void ExtractElement(ref Instruction ins)
    {
        var s = Xmm[XmmIndex(ins.Op1Register)];
        int imm = ins.Immediate8, size = ElementSize(ins.Mnemonic);
        ulong v = size switch
        {
            1 => s.GetElement(imm & 15),
            2 => s.AsUInt16().GetElement(imm & 7),
            4 => s.AsUInt32().GetElement(imm & 3),
            _ => s.AsUInt64().GetElement(imm & 1),
        };
        if (ins.Op0Kind == OpKind.Register) WriteGpr(ins.Op0Register, v);
        else WriteMemoryOperand(ref ins, size, v);
    }

    private void InsertElement(ref Instruction ins)
    {
        int size = ElementSize(ins.Mnemonic);
        ulong v = ins.Op1Kind == OpKind.Register ? ReadGpr(ins.Op1Register) : ReadMemoryOperand(ref ins, size);
        int imm = ins.Immediate8;
        ref var d = ref Xmm0(ref ins);
        d = size switch
        {
            1 => d.WithElement(imm & 15, (byte)v),
            2 => d.AsUInt16().WithElement(imm & 7, (ushort)v).AsByte(),
            4 => d.AsUInt32().WithElement(imm & 3, (uint)v).AsByte(),
            _ => d.AsUInt64().WithElement(imm & 1, v).AsByte(),
        };
    }

    /// <summary>PTEST: ZF when destination AND source is zero, CF when NOT destination AND source is.</summary>
    private void PackedTest(ref Instruction ins)
    {
        var a = Xmm0(ref ins); var b = ReadXmmOperand(ref ins, 1);
        ulong f = ((a & b) == Vector128<byte>.Zero ? RflagsBits.Zf : 0)
                  | ((~a & b) == Vector128<byte>.Zero ? RflagsBits.Cf : 0);
        SetArithmeticFlags(f);
    }

    /// <summary>PBLENDW, BLENDPS, BLENDPD: imm8 bit i selects element i from the source.</summary>
    private void BlendImmediate(ref Instruction ins)
    {
        var a = Xmm0(ref ins); var b = ReadXmmOperand(ref ins, 1);
        int imm = ins.Immediate8;
        int lanes = ins.Mnemonic switch { Mnemonic.Pblendw => 8, Mnemonic.Blendps => 4, _ => 2 };
        int width = 16 / lanes;
        Span<byte> r = stackalloc byte[16];
        for (int i = 0; i < 16; i++) r[i] = ((imm >> (i / width)) & 1) != 0 ? b.GetElement(i) : a.GetElement(i);
        Xmm0(ref ins) = Vector128.Create((ReadOnlySpan<byte>)r);
    }

    /// <summary>PBLENDVB, BLENDVPS, BLENDVPD: XMM0's sign bits select elements from the source.</summary>
    private void BlendVariable(ref Instruction ins)
    {
        var a = Xmm0(ref ins); var b = ReadXmmOperand(ref ins, 1); var m = Xmm[0];
        Xmm0(ref ins) = ins.Mnemonic switch
        {
            Mnemonic.Pblendvb => Sse41.BlendVariable(a, b, m),
            Mnemonic.Blendvps => Sse41.BlendVariable(a.AsSingle(), b.AsSingle(), m.AsSingle()).AsByte(),
            _ => Sse41.BlendVariable(a.AsDouble(), b.AsDouble(), m.AsDouble()).AsByte(),
        };
    }

    /// <summary>CRC32 (SSE4.2, CRC-32C) of a GPR or memory operand into a GPR: the host computes it.</summary>
    private void Crc32(ref Instruction ins)
    {
        int size = OperandSize(ref ins, 1);
        ulong crc = ReadGpr(ins.Op0Register);
        ulong v = ins.Op1Kind == OpKind.Register ? ReadGpr(ins.Op1Register) : ReadMemoryOperand(ref ins, size);
        uint c = (uint)crc;
        ulong r = size switch
        {
            1 => Sse42.Crc32(c, (byte)v),
            2 => Sse42.Crc32(c, (ushort)v),
            4 => Sse42.Crc32(c, (uint)v),
            _ => Sse42.X64.Crc32(c, v),
        };
        WriteGpr(ins.Op0Register, r);
    }
}
