using System.Runtime.Intrinsics;
using Iced.Intel;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>MMX forms against the host (operands moved in and out through XMM0/XMM1 with MOVDQ2Q/MOVQ2DQ, then
/// EMMS), the aliasing of MM0-MM7 with the x87 registers, and the CR0/x87 gates.</summary>
[Collection("HostCpu")]
public class MmxTests
{
    private static Action<Assembler> Wrap(Action<Assembler> op) => a =>
    {
        a.movdq2q(mm0, xmm0);
        a.movdq2q(mm1, xmm1);
        op(a);
        a.movq2dq(xmm0, mm0);
        a.emms();
    };

    private static readonly Dictionary<string, Action<Assembler>> IntegerCases = BuildInteger();

    private static Dictionary<string, Action<Assembler>> BuildInteger()
    {
        var d = new Dictionary<string, Action<Assembler>>();
        void Op(string n, Action<Assembler> e) => d[n] = Wrap(e);
        Op("paddb", a => a.paddb(mm0, mm1)); Op("paddw", a => a.paddw(mm0, mm1)); Op("paddd", a => a.paddd(mm0, mm1)); Op("paddq", a => a.paddq(mm0, mm1));
        Op("paddsb", a => a.paddsb(mm0, mm1)); Op("paddsw", a => a.paddsw(mm0, mm1)); Op("paddusb", a => a.paddusb(mm0, mm1)); Op("paddusw", a => a.paddusw(mm0, mm1));
        Op("psubb", a => a.psubb(mm0, mm1)); Op("psubw", a => a.psubw(mm0, mm1)); Op("psubd", a => a.psubd(mm0, mm1)); Op("psubq", a => a.psubq(mm0, mm1));
        Op("psubsb", a => a.psubsb(mm0, mm1)); Op("psubsw", a => a.psubsw(mm0, mm1)); Op("psubusb", a => a.psubusb(mm0, mm1)); Op("psubusw", a => a.psubusw(mm0, mm1));
        Op("pmullw", a => a.pmullw(mm0, mm1)); Op("pmulhw", a => a.pmulhw(mm0, mm1)); Op("pmulhuw", a => a.pmulhuw(mm0, mm1));
        Op("pmuludq", a => a.pmuludq(mm0, mm1)); Op("pmaddwd", a => a.pmaddwd(mm0, mm1));
        Op("pavgb", a => a.pavgb(mm0, mm1)); Op("pavgw", a => a.pavgw(mm0, mm1)); Op("pminub", a => a.pminub(mm0, mm1)); Op("pmaxub", a => a.pmaxub(mm0, mm1));
        Op("pminsw", a => a.pminsw(mm0, mm1)); Op("pmaxsw", a => a.pmaxsw(mm0, mm1)); Op("psadbw", a => a.psadbw(mm0, mm1));
        Op("pcmpeqb", a => a.pcmpeqb(mm0, mm1)); Op("pcmpeqw", a => a.pcmpeqw(mm0, mm1)); Op("pcmpeqd", a => a.pcmpeqd(mm0, mm1));
        Op("pcmpgtb", a => a.pcmpgtb(mm0, mm1)); Op("pcmpgtw", a => a.pcmpgtw(mm0, mm1)); Op("pcmpgtd", a => a.pcmpgtd(mm0, mm1));
        Op("pand", a => a.pand(mm0, mm1)); Op("pandn", a => a.pandn(mm0, mm1)); Op("por", a => a.por(mm0, mm1)); Op("pxor", a => a.pxor(mm0, mm1));
        Op("packsswb", a => a.packsswb(mm0, mm1)); Op("packssdw", a => a.packssdw(mm0, mm1)); Op("packuswb", a => a.packuswb(mm0, mm1));
        Op("punpcklbw", a => a.punpcklbw(mm0, mm1)); Op("punpcklwd", a => a.punpcklwd(mm0, mm1)); Op("punpckldq", a => a.punpckldq(mm0, mm1));
        Op("punpckhbw", a => a.punpckhbw(mm0, mm1)); Op("punpckhwd", a => a.punpckhwd(mm0, mm1)); Op("punpckhdq", a => a.punpckhdq(mm0, mm1));
        Op("pshufb", a => a.pshufb(mm0, mm1)); Op("phaddw", a => a.phaddw(mm0, mm1)); Op("phaddd", a => a.phaddd(mm0, mm1)); Op("phaddsw", a => a.phaddsw(mm0, mm1));
        Op("phsubw", a => a.phsubw(mm0, mm1)); Op("phsubd", a => a.phsubd(mm0, mm1)); Op("phsubsw", a => a.phsubsw(mm0, mm1));
        Op("pmaddubsw", a => a.pmaddubsw(mm0, mm1)); Op("pmulhrsw", a => a.pmulhrsw(mm0, mm1));
        Op("psignb", a => a.psignb(mm0, mm1)); Op("psignw", a => a.psignw(mm0, mm1)); Op("psignd", a => a.psignd(mm0, mm1));
        Op("pabsb", a => a.pabsb(mm0, mm1)); Op("pabsw", a => a.pabsw(mm0, mm1)); Op("pabsd", a => a.pabsd(mm0, mm1));
        Op("psllw", a => a.psllw(mm0, mm1)); Op("pslld", a => a.pslld(mm0, mm1)); Op("psllq", a => a.psllq(mm0, mm1));
        Op("psrlw", a => a.psrlw(mm0, mm1)); Op("psrld", a => a.psrld(mm0, mm1)); Op("psrlq", a => a.psrlq(mm0, mm1));
        Op("psraw", a => a.psraw(mm0, mm1)); Op("psrad", a => a.psrad(mm0, mm1));
        Op("psrlq small", a => { a.psrlq(mm1, 58); a.psllq(mm0, mm1); });
        foreach (byte k in new byte[] { 0, 3, 15, 16, 31, 33, 63, 64, 255 })
        {
            Op($"psllw {k}", a => a.psllw(mm0, k)); Op($"pslld {k}", a => a.pslld(mm0, k)); Op($"psllq {k}", a => a.psllq(mm0, k));
            Op($"psrlw {k}", a => a.psrlw(mm0, k)); Op($"psrld {k}", a => a.psrld(mm0, k)); Op($"psrlq {k}", a => a.psrlq(mm0, k));
            Op($"psraw {k}", a => a.psraw(mm0, k)); Op($"psrad {k}", a => a.psrad(mm0, k));
            Op($"palignr {k}", a => a.palignr(mm0, mm1, k));
        }
        foreach (byte k in new byte[] { 0x00, 0x1B, 0xE4, 0x93, 0xFF }) Op($"pshufw {k:X2}", a => a.pshufw(mm0, mm1, k));
        for (byte k = 0; k < 4; k++)
        {
            byte i = k;
            Op($"pinsrw {i}", a => a.pinsrw(mm0, eax, i));
            Op($"pextrw {i}", a => a.pextrw(eax, mm1, i));
        }
        Op("pmovmskb", a => a.pmovmskb(eax, mm1));
        Op("movd to mm", a => a.movd(mm0, eax));
        Op("movd from mm", a => a.movd(eax, mm1));
        Op("movq mm", a => a.movq(mm0, mm1));
        return d;
    }

    public static TheoryData<string> Integers() => new(IntegerCases.Keys);

    [Theory]
    [MemberData(nameof(Integers))]
    public void IntegerFormsMatchTheHost(string name)
    {
        Action<Assembler> emit = IntegerCases[name];
        var rng = new Random(name.Sum(c => c * 41) ^ 5);
        using var host = new HostSse();
        using var g = new SseGuest();
        var x = new byte[16];
        var y = new byte[16];
        for (int i = 0; i < 16; i++)
        {
            rng.NextBytes(x); rng.NextBytes(y);
            if (i == 0) { Array.Fill(x, (byte)0x80); Array.Fill(y, (byte)0x7F); }
            Vector128<byte> a = Vector128.Create(x), b = Vector128.Create(y);
            uint raxIn = (uint)rng.Next();
            var hs = host.Run(emit, new HostSse.State { Xmm0 = a, Xmm1 = b, MxcsrIn = 0x1F80, Rax = raxIn });
            var es = g.Run(asm => { asm.mov(eax, raxIn); emit(asm); }, new[] { a, b });
            string ctx = $"{name} a={a} b={b} eax={raxIn:X}";
            Assert.True(hs.Xmm0 == SseGuest.Xmm(es, 0), $"{ctx}: host {hs.Xmm0} emu {SseGuest.Xmm(es, 0)}");
            Assert.True((uint)hs.Rax == (uint)g.Vcpu.GetRegisters().Rax, $"{ctx}: host eax {(uint)hs.Rax:X} emu {(uint)g.Vcpu.GetRegisters().Rax:X}");
            Assert.Equal(0, es.Ftwx);
        }
    }

    private static readonly Dictionary<string, (Action<Assembler> Emit, bool Double)> ConvertCases = new()
    {
        ["cvtpi2ps"] = (a => { a.movdq2q(mm1, xmm1); a.cvtpi2ps(xmm0, mm1); a.emms(); }, false),
        ["cvtpi2pd"] = (a => { a.movdq2q(mm1, xmm1); a.cvtpi2pd(xmm0, mm1); a.emms(); }, false),
        ["cvtps2pi"] = (a => { a.cvtps2pi(mm0, xmm1); a.movq2dq(xmm0, mm0); a.emms(); }, false),
        ["cvttps2pi"] = (a => { a.cvttps2pi(mm0, xmm1); a.movq2dq(xmm0, mm0); a.emms(); }, false),
        ["cvtpd2pi"] = (a => { a.cvtpd2pi(mm0, xmm1); a.movq2dq(xmm0, mm0); a.emms(); }, true),
        ["cvttpd2pi"] = (a => { a.cvttpd2pi(mm0, xmm1); a.movq2dq(xmm0, mm0); a.emms(); }, true),
    };

    public static TheoryData<string> Conversions() => new(ConvertCases.Keys);

    [Theory]
    [MemberData(nameof(Conversions))]
    public void ConversionsMatchTheHost(string name)
    {
        var (emit, dbl) = ConvertCases[name];
        SseFloatTests.CompareWithHost(name, emit, dbl, 300);
    }

    [Fact]
    public void MmRegistersAliasTheX87MantissasAndTags()
    {
        using var g = new SseGuest();
        var bytes = BitConverter.GetBytes(0x1122_3344_5566_7788UL);
        g.Memory.Write(SseGuest.DataAddress, bytes);
        var s = g.Run(a =>
        {
            a.fld1();                                   // TOP 7: R7 = 1.0
            a.movq2dq(xmm0, mm7);                       // reads R7's mantissa; TOP = 0, all valid
            a.movq(mm3, __qword_ptr[SseGuest.DataAddress]);
            a.fnstsw(ax);
            a.fxsave(__[SseGuest.DataAddress + 0x100]);
        }, new Vector128<byte>[16]);
        Assert.Equal("", g.Exceptions);
        Assert.Equal(Vector128.CreateScalar(0x8000_0000_0000_0000UL).AsByte(), SseGuest.Xmm(s, 0));
        Assert.Equal(0, (int)(g.Vcpu.GetRegisters().Rax >> 11) & 7);
        Assert.Equal(0xFF, s.Ftwx);
        Assert.Equal(0x1122_3344_5566_7788UL, BitConverter.ToUInt64(s.Fpr, 3 * 16));
        Assert.Equal(0xFFFF, BitConverter.ToUInt16(s.Fpr, 3 * 16 + 8));
        var image = new byte[512];
        g.Memory.Read(SseGuest.DataAddress + 0x100, image);
        Assert.Equal(0xFF, image[4]);                    // abridged tag word: every register valid
        Assert.Equal(0x1122_3344_5566_7788UL, BitConverter.ToUInt64(image, 32 + 3 * 16));
    }

    [Fact]
    public void MmxRaisesUdWithEmNmWithTsAndMfWithAPendingX87Exception()
    {
        using var g1 = new SseGuest();
        g1.Run(a => a.paddb(mm0, mm1), new Vector128<byte>[2], realMode: true, adjust: sr => { sr.Cr0 |= ControlRegisters.Cr0Em; return sr; });
        Assert.Equal(((char)('A' + Vector.UD)).ToString(), g1.Exceptions);
        using var g2 = new SseGuest();
        g2.Run(a => a.emms(), new Vector128<byte>[2], realMode: true, adjust: sr => { sr.Cr0 |= ControlRegisters.Cr0Ts; return sr; });
        Assert.Equal(((char)('A' + Vector.NM)).ToString(), g2.Exceptions);
        using var g3 = new SseGuest();
        g3.Run(a =>
        {
            a.mov(__word_ptr[0x2000], 0x37E);           // invalid-operation unmasked
            a.fldcw(__word_ptr[0x2000]);
            a.fld1();
            a.fchs();
            a.fsqrt();                                  // sets ES: pending
            a.movq(mm0, mm1);
        }, new Vector128<byte>[2], realMode: true);
        Assert.Equal(((char)('A' + Vector.MF)).ToString(), g3.Exceptions);
    }

    [Fact]
    public void MemoryFormsMaskmovqAndMovntq()
    {
        using var g = new SseGuest();
        var data = new byte[32];
        for (int i = 0; i < 32; i++) data[i] = (byte)(i * 9 + 1);
        g.Memory.Write(SseGuest.DataAddress, data);
        var ints = new byte[8];                                          // two int32 for CVTPI2PS
        BitConverter.TryWriteBytes(ints.AsSpan(0), 3);
        BitConverter.TryWriteBytes(ints.AsSpan(4), -5);
        g.Memory.Write(SseGuest.DataAddress + 0x60, ints);
        var s = g.Run(a =>
        {
            a.movq(mm0, __qword_ptr[SseGuest.DataAddress + 3]);          // unaligned: no fault
            a.paddw(mm0, __qword_ptr[SseGuest.DataAddress + 9]);
            a.movq(mm1, __qword_ptr[SseGuest.DataAddress]);
            a.punpcklbw(mm1, __dword_ptr[SseGuest.DataAddress + 0x1C]);  // m32 source
            a.movntq(__qword_ptr[SseGuest.DataAddress + 0x40], mm0);
            a.mov(edi, (uint)SseGuest.DataAddress + 0x50);
            a.mov(eax, 0x0080_FF00);
            a.movd(mm2, eax);                                           // mask: bytes 1 and 2 selected
            a.maskmovq(mm1, mm2);
            a.movq2dq(xmm1, mm1);
            a.emms();
            a.cvtpi2ps(xmm2, __qword_ptr[SseGuest.DataAddress + 0x60]); // memory source: no MMX transition
        }, new Vector128<byte>[16]);
        Assert.Equal("", g.Exceptions);
        var mem = new byte[0x60];
        g.Memory.Read(SseGuest.DataAddress, mem);
        var a0 = Vector128.Create(data.AsSpan(3, 8).ToArray().Concat(new byte[8]).ToArray()).AsUInt16();
        var a1 = Vector128.Create(data.AsSpan(9, 8).ToArray().Concat(new byte[8]).ToArray()).AsUInt16();
        ulong sum = (a0 + a1).AsUInt64().GetElement(0);
        Assert.Equal(sum, BitConverter.ToUInt64(mem, 0x40));
        var lo = data.AsSpan(0, 4).ToArray();
        var hi = data.AsSpan(0x1C, 4).ToArray();
        var unpacked = new byte[] { lo[0], hi[0], lo[1], hi[1], lo[2], hi[2], lo[3], hi[3] };
        Assert.Equal(BitConverter.ToUInt64(unpacked), SseGuest.Xmm(s, 1).AsUInt64().GetElement(0));
        Assert.Equal(new byte[] { 0, unpacked[1], unpacked[2], 0 }, mem.AsSpan(0x50, 4).ToArray());
        Assert.Equal(Vector128.Create(3f, -5f, 0f, 0f), SseGuest.Xmm(s, 2).AsSingle());
        Assert.Equal(0, s.Ftwx);
    }
}
