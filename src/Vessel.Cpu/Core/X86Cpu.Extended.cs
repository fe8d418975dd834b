using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Iced.Intel;
using Vessel.Cpu.Fpu;

namespace Vessel.Cpu;

/// <summary>Instruction families beyond the integer and system sets (x87, SSE, XSAVE) plug in here.</summary>
internal sealed partial class X86Cpu
{
    /// <summary>Executes an x87/MMX/SSE/XSAVE instruction; false if <paramref name="ins"/> is not one (the
    /// caller raises #UD).</summary>
    private bool ExecuteExtended(ref Instruction ins)
    {
        if (IsMmxForm(ref ins)) return TryMmx(ref ins);
        if (ExecuteStateInstruction(ref ins) || ExecuteX87Control(ref ins) || ExecuteX87(ref ins)) return true;
        if (TrySsePackedBinary(ref ins) || TrySsePackedUnary(ref ins) || TrySseMove(ref ins)) return true;
        return TrySseFloat(ref ins) || TrySseMisc(ref ins) || TrySse41(ref ins) || TrySseString(ref ins);
    }

    private bool ExecuteStateInstruction(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Fxsave: case Mnemonic.Fxsave64: ExecuteFxsave(ref ins); return true;
            case Mnemonic.Fxrstor: case Mnemonic.Fxrstor64: ExecuteFxrstor(ref ins); return true;
            case Mnemonic.Ldmxcsr: ExecuteLdmxcsr(ref ins); return true;
            case Mnemonic.Stmxcsr: ExecuteStmxcsr(ref ins); return true;
            case Mnemonic.Xgetbv: ExecuteXgetbv(); return true;
            case Mnemonic.Xsetbv: ExecuteXsetbv(); return true;
            case Mnemonic.Xsave: case Mnemonic.Xsave64: case Mnemonic.Xsaveopt: case Mnemonic.Xsaveopt64:
            case Mnemonic.Xsavec: case Mnemonic.Xsavec64:
                ExecuteXsave(ref ins); return true;
            case Mnemonic.Xrstor: case Mnemonic.Xrstor64: ExecuteXrstor(ref ins); return true;
        }
        return false;
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
            case Mnemonic.Minps: CheckSse(); SseMinMax(ref ins, false, false, false); return true;
            case Mnemonic.Minpd: CheckSse(); SseMinMax(ref ins, false, true, false); return true;
            case Mnemonic.Minss: CheckSse(); SseMinMax(ref ins, false, false, true); return true;
            case Mnemonic.Minsd: CheckSse(); SseMinMax(ref ins, false, true, true); return true;
            case Mnemonic.Maxps: CheckSse(); SseMinMax(ref ins, true, false, false); return true;
            case Mnemonic.Maxpd: CheckSse(); SseMinMax(ref ins, true, true, false); return true;
            case Mnemonic.Maxss: CheckSse(); SseMinMax(ref ins, true, false, true); return true;
            case Mnemonic.Maxsd: CheckSse(); SseMinMax(ref ins, true, true, true); return true;
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

    /// <summary>Shuffles, inserts/extracts, masks, PTEST, CRC32 and other forms with an immediate or a GPR.</summary>
    private bool TrySseMisc(ref Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Pshufd: case Mnemonic.Pshuflw: case Mnemonic.Pshufhw:
            {
                CheckSse();
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
                return true;
            }
            case Mnemonic.Shufps:
            {
                CheckSse();
                var a = Xmm0(ref ins).AsUInt32(); var b = ReadXmmOperand(ref ins, 1).AsUInt32();
                int imm = ins.Immediate8;
                Xmm0(ref ins) = Vector128.Create(a.GetElement(imm & 3), a.GetElement((imm >> 2) & 3), b.GetElement((imm >> 4) & 3), b.GetElement((imm >> 6) & 3)).AsByte();
                return true;
            }
            case Mnemonic.Shufpd:
            {
                CheckSse();
                var a = Xmm0(ref ins).AsUInt64(); var b = ReadXmmOperand(ref ins, 1).AsUInt64();
                int imm = ins.Immediate8;
                Xmm0(ref ins) = Vector128.Create(a.GetElement(imm & 1), b.GetElement((imm >> 1) & 1)).AsByte();
                return true;
            }
            case Mnemonic.Palignr:
            {
                CheckSse();
                var a = Xmm0(ref ins); var b = ReadXmmOperand(ref ins, 1);
                int n = ins.Immediate8;
                Span<byte> buf = stackalloc byte[64];
                b.CopyTo(buf); a.CopyTo(buf[16..]);
                Xmm0(ref ins) = n >= 32 ? Vector128<byte>.Zero : Vector128.Create(buf.Slice(n, 16));
                return true;
            }
            case Mnemonic.Pmovmskb:
                CheckSse(); WriteGpr(ins.Op0Register, (uint)Sse2.MoveMask(_xmm[XmmIndex(ins.Op1Register)])); return true;
            case Mnemonic.Movmskps:
                CheckSse(); WriteGpr(ins.Op0Register, (uint)Sse.MoveMask(_xmm[XmmIndex(ins.Op1Register)].AsSingle())); return true;
            case Mnemonic.Movmskpd:
                CheckSse(); WriteGpr(ins.Op0Register, (uint)Sse2.MoveMask(_xmm[XmmIndex(ins.Op1Register)].AsDouble())); return true;
            case Mnemonic.Pextrb: case Mnemonic.Pextrw: case Mnemonic.Pextrd: case Mnemonic.Pextrq:
            {
                CheckSse();
                var s = _xmm[XmmIndex(ins.Op1Register)];
                int imm = ins.Immediate8;
                ulong v = ins.Mnemonic switch
                {
                    Mnemonic.Pextrb => s.GetElement(imm & 15),
                    Mnemonic.Pextrw => s.AsUInt16().GetElement(imm & 7),
                    Mnemonic.Pextrd => s.AsUInt32().GetElement(imm & 3),
                    _ => s.AsUInt64().GetElement(imm & 1),
                };
                int size = ins.Mnemonic switch { Mnemonic.Pextrb => 1, Mnemonic.Pextrw => 2, Mnemonic.Pextrd => 4, _ => 8 };
                if (ins.Op0Kind == OpKind.Register) WriteGpr(ins.Op0Register, v);
                else WriteMemoryOperand(ref ins, size, v);
                return true;
            }
            case Mnemonic.Pinsrb: case Mnemonic.Pinsrw: case Mnemonic.Pinsrd: case Mnemonic.Pinsrq:
            {
                CheckSse();
                int size = ins.Mnemonic switch { Mnemonic.Pinsrb => 1, Mnemonic.Pinsrw => 2, Mnemonic.Pinsrd => 4, _ => 8 };
                ulong v = ins.Op1Kind == OpKind.Register ? ReadGpr(ins.Op1Register) : ReadMemoryOperand(ref ins, size);
                int imm = ins.Immediate8;
                ref var d = ref Xmm0(ref ins);
                d = ins.Mnemonic switch
                {
                    Mnemonic.Pinsrb => d.WithElement(imm & 15, (byte)v),
                    Mnemonic.Pinsrw => d.AsUInt16().WithElement(imm & 7, (ushort)v).AsByte(),
                    Mnemonic.Pinsrd => d.AsUInt32().WithElement(imm & 3, (uint)v).AsByte(),
                    _ => d.AsUInt64().WithElement(imm & 1, v).AsByte(),
                };
                return true;
            }
            case Mnemonic.Ptest:
            {
                CheckSse();
                var a = Xmm0(ref ins); var b = ReadXmmOperand(ref ins, 1);
                ulong f = ((a & b) == Vector128<byte>.Zero ? Hypervisor.RflagsBits.Zf : 0)
                          | ((~a & b) == Vector128<byte>.Zero ? Hypervisor.RflagsBits.Cf : 0);
                SetArithmeticFlags(f);
                return true;
            }
            case Mnemonic.Pblendw: case Mnemonic.Blendps: case Mnemonic.Blendpd:
            {
                CheckSse();
                var a = Xmm0(ref ins); var b = ReadXmmOperand(ref ins, 1);
                int imm = ins.Immediate8;
                int lanes = ins.Mnemonic switch { Mnemonic.Pblendw => 8, Mnemonic.Blendps => 4, _ => 2 };
                int width = 16 / lanes;
                Span<byte> r = stackalloc byte[16];
                for (int i = 0; i < 16; i++) r[i] = ((imm >> (i / width)) & 1) != 0 ? b.GetElement(i) : a.GetElement(i);
                Xmm0(ref ins) = Vector128.Create((ReadOnlySpan<byte>)r);
                return true;
            }
            case Mnemonic.Pblendvb: case Mnemonic.Blendvps: case Mnemonic.Blendvpd:
            {
                CheckSse();
                var a = Xmm0(ref ins); var b = ReadXmmOperand(ref ins, 1); var m = _xmm[0];
                Xmm0(ref ins) = ins.Mnemonic switch
                {
                    Mnemonic.Pblendvb => Sse41.BlendVariable(a, b, m),
                    Mnemonic.Blendvps => Sse41.BlendVariable(a.AsSingle(), b.AsSingle(), m.AsSingle()).AsByte(),
                    _ => Sse41.BlendVariable(a.AsDouble(), b.AsDouble(), m.AsDouble()).AsByte(),
                };
                return true;
            }
            case Mnemonic.Crc32:
            {
                int size = OperandSize(ref ins, 1);
                ulong crc = ReadGpr(ins.Op0Register);
                ulong v = ReadOperand(ref ins, 1, size);
                uint c = (uint)crc;
                ulong r = size switch
                {
                    1 => Sse42.Crc32(c, (byte)v),
                    2 => Sse42.Crc32(c, (ushort)v),
                    4 => Sse42.Crc32(c, (uint)v),
                    _ => Sse42.X64.Crc32(c, v),
                };
                WriteGpr(ins.Op0Register, r);
                return true;
            }
        }
        return false;
    }
}
