using System.Runtime.Intrinsics;
using Iced.Intel;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;
using RflagsBits = Vessel.Hypervisor.RflagsBits;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>Every packed-integer, shuffle, insert/extract, blend, PTEST, CRC32 and POPCNT form the emu CPU knows,
/// run natively on the host and on the emulator from the same random XMM0/XMM1/EAX; XMM0, EAX and the
/// arithmetic flags must agree.</summary>
[Collection("HostCpu")]
public class SseIntegerDifferentialTests
{
    private const ulong FlagMask = RflagsBits.Cf | RflagsBits.Pf | RflagsBits.Zf | RflagsBits.Sf | RflagsBits.Of;

    private static readonly Dictionary<string, (Action<Assembler> Emit, bool Flags)> Cases = Build();

    private static Dictionary<string, (Action<Assembler>, bool)> Build()
    {
        var d = new Dictionary<string, (Action<Assembler>, bool)>();
        void Binary(string name, Action<Assembler> emit) => d[name] = (emit, false);
        Binary("paddb", a => a.paddb(xmm0, xmm1)); Binary("paddw", a => a.paddw(xmm0, xmm1)); Binary("paddd", a => a.paddd(xmm0, xmm1));
        Binary("paddq", a => a.paddq(xmm0, xmm1)); Binary("paddsb", a => a.paddsb(xmm0, xmm1)); Binary("paddsw", a => a.paddsw(xmm0, xmm1));
        Binary("paddusb", a => a.paddusb(xmm0, xmm1)); Binary("paddusw", a => a.paddusw(xmm0, xmm1));
        Binary("psubb", a => a.psubb(xmm0, xmm1)); Binary("psubw", a => a.psubw(xmm0, xmm1)); Binary("psubd", a => a.psubd(xmm0, xmm1));
        Binary("psubq", a => a.psubq(xmm0, xmm1)); Binary("psubsb", a => a.psubsb(xmm0, xmm1)); Binary("psubsw", a => a.psubsw(xmm0, xmm1));
        Binary("psubusb", a => a.psubusb(xmm0, xmm1)); Binary("psubusw", a => a.psubusw(xmm0, xmm1));
        Binary("pmullw", a => a.pmullw(xmm0, xmm1)); Binary("pmulhw", a => a.pmulhw(xmm0, xmm1)); Binary("pmulhuw", a => a.pmulhuw(xmm0, xmm1));
        Binary("pmuludq", a => a.pmuludq(xmm0, xmm1)); Binary("pmaddwd", a => a.pmaddwd(xmm0, xmm1));
        Binary("pavgb", a => a.pavgb(xmm0, xmm1)); Binary("pavgw", a => a.pavgw(xmm0, xmm1));
        Binary("pminub", a => a.pminub(xmm0, xmm1)); Binary("pmaxub", a => a.pmaxub(xmm0, xmm1));
        Binary("pminsw", a => a.pminsw(xmm0, xmm1)); Binary("pmaxsw", a => a.pmaxsw(xmm0, xmm1)); Binary("psadbw", a => a.psadbw(xmm0, xmm1));
        Binary("pcmpeqb", a => a.pcmpeqb(xmm0, xmm1)); Binary("pcmpeqw", a => a.pcmpeqw(xmm0, xmm1)); Binary("pcmpeqd", a => a.pcmpeqd(xmm0, xmm1));
        Binary("pcmpgtb", a => a.pcmpgtb(xmm0, xmm1)); Binary("pcmpgtw", a => a.pcmpgtw(xmm0, xmm1)); Binary("pcmpgtd", a => a.pcmpgtd(xmm0, xmm1));
        Binary("pand", a => a.pand(xmm0, xmm1)); Binary("pandn", a => a.pandn(xmm0, xmm1)); Binary("por", a => a.por(xmm0, xmm1));
        Binary("andps", a => a.andps(xmm0, xmm1)); Binary("andnpd", a => a.andnpd(xmm0, xmm1)); Binary("orps", a => a.orps(xmm0, xmm1));
        Binary("xorpd", a => a.xorpd(xmm0, xmm1));
        Binary("packsswb", a => a.packsswb(xmm0, xmm1)); Binary("packssdw", a => a.packssdw(xmm0, xmm1)); Binary("packuswb", a => a.packuswb(xmm0, xmm1));
        Binary("packusdw", a => a.packusdw(xmm0, xmm1));
        Binary("punpcklbw", a => a.punpcklbw(xmm0, xmm1)); Binary("punpcklwd", a => a.punpcklwd(xmm0, xmm1));
        Binary("punpckldq", a => a.punpckldq(xmm0, xmm1)); Binary("punpcklqdq", a => a.punpcklqdq(xmm0, xmm1));
        Binary("punpckhbw", a => a.punpckhbw(xmm0, xmm1)); Binary("punpckhwd", a => a.punpckhwd(xmm0, xmm1));
        Binary("punpckhdq", a => a.punpckhdq(xmm0, xmm1)); Binary("punpckhqdq", a => a.punpckhqdq(xmm0, xmm1));
        Binary("unpcklps", a => a.unpcklps(xmm0, xmm1)); Binary("unpckhps", a => a.unpckhps(xmm0, xmm1));
        Binary("unpcklpd", a => a.unpcklpd(xmm0, xmm1)); Binary("unpckhpd", a => a.unpckhpd(xmm0, xmm1));
        foreach (var (n, e) in new (string, Action<Assembler, AssemblerRegisterXMM, AssemblerRegisterXMM>)[]
        {
            ("psllw", (a, x, y) => a.psllw(x, y)), ("pslld", (a, x, y) => a.pslld(x, y)), ("psllq", (a, x, y) => a.psllq(x, y)),
            ("psrlw", (a, x, y) => a.psrlw(x, y)), ("psrld", (a, x, y) => a.psrld(x, y)), ("psrlq", (a, x, y) => a.psrlq(x, y)),
            ("psraw", (a, x, y) => a.psraw(x, y)), ("psrad", (a, x, y) => a.psrad(x, y)),
        })
        {
            // Shift counts from a register: small counts most of the time, else whatever the random qword is.
            d[n + " xmm"] = (a => { a.movdqa(xmm2, xmm1); a.psrlq(xmm2, 58); a.test(eax, 1); var skip = a.CreateLabel(); a.jz(skip); a.movdqa(xmm2, xmm1); a.Label(ref skip); e(a, xmm0, xmm2); }, false);
        }
        foreach (byte k in new byte[] { 0, 1, 7, 15, 16, 31, 32, 63, 64, 200 })
        {
            d[$"psllw {k}"] = (a => a.psllw(xmm0, k), false); d[$"pslld {k}"] = (a => a.pslld(xmm0, k), false);
            d[$"psllq {k}"] = (a => a.psllq(xmm0, k), false); d[$"psrlw {k}"] = (a => a.psrlw(xmm0, k), false);
            d[$"psrld {k}"] = (a => a.psrld(xmm0, k), false); d[$"psrlq {k}"] = (a => a.psrlq(xmm0, k), false);
            d[$"psraw {k}"] = (a => a.psraw(xmm0, k), false); d[$"psrad {k}"] = (a => a.psrad(xmm0, k), false);
            d[$"pslldq {k}"] = (a => a.pslldq(xmm0, k), false); d[$"psrldq {k}"] = (a => a.psrldq(xmm0, k), false);
        }
        Binary("pshufb", a => a.pshufb(xmm0, xmm1)); Binary("phaddw", a => a.phaddw(xmm0, xmm1)); Binary("phaddd", a => a.phaddd(xmm0, xmm1));
        Binary("phaddsw", a => a.phaddsw(xmm0, xmm1)); Binary("phsubw", a => a.phsubw(xmm0, xmm1)); Binary("phsubd", a => a.phsubd(xmm0, xmm1));
        Binary("phsubsw", a => a.phsubsw(xmm0, xmm1)); Binary("pmaddubsw", a => a.pmaddubsw(xmm0, xmm1)); Binary("pmulhrsw", a => a.pmulhrsw(xmm0, xmm1));
        Binary("psignb", a => a.psignb(xmm0, xmm1)); Binary("psignw", a => a.psignw(xmm0, xmm1)); Binary("psignd", a => a.psignd(xmm0, xmm1));
        Binary("pminsb", a => a.pminsb(xmm0, xmm1)); Binary("pminsd", a => a.pminsd(xmm0, xmm1)); Binary("pmaxsb", a => a.pmaxsb(xmm0, xmm1));
        Binary("pmaxsd", a => a.pmaxsd(xmm0, xmm1)); Binary("pminuw", a => a.pminuw(xmm0, xmm1)); Binary("pminud", a => a.pminud(xmm0, xmm1));
        Binary("pmaxuw", a => a.pmaxuw(xmm0, xmm1)); Binary("pmaxud", a => a.pmaxud(xmm0, xmm1)); Binary("pmulld", a => a.pmulld(xmm0, xmm1));
        Binary("pmuldq", a => a.pmuldq(xmm0, xmm1)); Binary("pcmpeqq", a => a.pcmpeqq(xmm0, xmm1)); Binary("pcmpgtq", a => a.pcmpgtq(xmm0, xmm1));
        Binary("pabsb", a => a.pabsb(xmm0, xmm1)); Binary("pabsw", a => a.pabsw(xmm0, xmm1)); Binary("pabsd", a => a.pabsd(xmm0, xmm1));
        Binary("pmovsxbw", a => a.pmovsxbw(xmm0, xmm1)); Binary("pmovsxbd", a => a.pmovsxbd(xmm0, xmm1)); Binary("pmovsxbq", a => a.pmovsxbq(xmm0, xmm1));
        Binary("pmovsxwd", a => a.pmovsxwd(xmm0, xmm1)); Binary("pmovsxwq", a => a.pmovsxwq(xmm0, xmm1)); Binary("pmovsxdq", a => a.pmovsxdq(xmm0, xmm1));
        Binary("pmovzxbw", a => a.pmovzxbw(xmm0, xmm1)); Binary("pmovzxbd", a => a.pmovzxbd(xmm0, xmm1)); Binary("pmovzxbq", a => a.pmovzxbq(xmm0, xmm1));
        Binary("pmovzxwd", a => a.pmovzxwd(xmm0, xmm1)); Binary("pmovzxwq", a => a.pmovzxwq(xmm0, xmm1)); Binary("pmovzxdq", a => a.pmovzxdq(xmm0, xmm1));
        Binary("phminposuw", a => a.phminposuw(xmm0, xmm1));
        foreach (byte k in new byte[] { 0x00, 0x1B, 0x4E, 0xB1, 0xE4, 0xFF, 0x93 })
        {
            Binary($"pshufd {k:X2}", a => a.pshufd(xmm0, xmm1, k)); Binary($"pshuflw {k:X2}", a => a.pshuflw(xmm0, xmm1, k));
            Binary($"pshufhw {k:X2}", a => a.pshufhw(xmm0, xmm1, k)); Binary($"shufps {k:X2}", a => a.shufps(xmm0, xmm1, k));
            Binary($"shufpd {k:X2}", a => a.shufpd(xmm0, xmm1, k)); Binary($"pblendw {k:X2}", a => a.pblendw(xmm0, xmm1, k));
            Binary($"blendps {k:X2}", a => a.blendps(xmm0, xmm1, k)); Binary($"blendpd {k:X2}", a => a.blendpd(xmm0, xmm1, k));
        }
        foreach (byte k in new byte[] { 0, 1, 5, 15, 16, 17, 24, 31, 32, 255 }) Binary($"palignr {k}", a => a.palignr(xmm0, xmm1, k));
        Binary("pblendvb", a => { a.movdqa(xmm2, xmm0); a.movdqa(xmm0, xmm1); a.pshufd(xmm1, xmm1, 0x4E); a.pblendvb(xmm2, xmm1); a.movdqa(xmm0, xmm2); });
        Binary("blendvps", a => { a.movdqa(xmm2, xmm0); a.movdqa(xmm0, xmm1); a.pshufd(xmm1, xmm1, 0x4E); a.blendvps(xmm2, xmm1); a.movdqa(xmm0, xmm2); });
        Binary("blendvpd", a => { a.movdqa(xmm2, xmm0); a.movdqa(xmm0, xmm1); a.pshufd(xmm1, xmm1, 0x4E); a.blendvpd(xmm2, xmm1); a.movdqa(xmm0, xmm2); });
        for (byte k = 0; k < 16; k++)
        {
            byte i = k;
            Binary($"pextrb {i}", a => a.pextrb(eax, xmm1, i)); Binary($"pinsrb {i}", a => a.pinsrb(xmm0, eax, i));
            if (i < 8) { Binary($"pextrw {i}", a => a.pextrw(eax, xmm1, i)); Binary($"pinsrw {i}", a => a.pinsrw(xmm0, eax, i)); }
            if (i < 4) { Binary($"pextrd {i}", a => a.pextrd(eax, xmm1, i)); Binary($"pinsrd {i}", a => a.pinsrd(xmm0, eax, i)); }
        }
        Binary("pmovmskb", a => a.pmovmskb(eax, xmm1)); Binary("movmskps", a => a.movmskps(eax, xmm1)); Binary("movmskpd", a => a.movmskpd(eax, xmm1));
        d["ptest"] = (a => a.ptest(xmm0, xmm1), true);
        d["ptest same"] = (a => a.ptest(xmm1, xmm1), true);
        d["ptest and"] = (a => { a.pand(xmm0, xmm1); a.ptest(xmm0, xmm1); }, true);
        d["crc32 b"] = (a => { a.movd(ecx, xmm1); a.crc32(eax, cl); }, false);
        d["crc32 w"] = (a => { a.movd(ecx, xmm1); a.crc32(eax, cx); }, false);
        d["crc32 d"] = (a => { a.movd(ecx, xmm1); a.crc32(eax, ecx); }, false);
        d["popcnt"] = (a => { a.movd(ecx, xmm1); a.popcnt(eax, ecx); }, true);
        d["popcnt zero"] = (a => { a.xor(ecx, ecx); a.popcnt(eax, ecx); }, true);
        d["popcnt w"] = (a => { a.movd(ecx, xmm1); a.popcnt(ax, cx); }, true);
        Binary("movd", a => a.movd(xmm0, eax)); Binary("movq", a => a.movq(xmm0, xmm1)); Binary("movss", a => a.movss(xmm0, xmm1));
        Binary("movsd", a => a.movsd(xmm0, xmm1)); Binary("movhlps", a => a.movhlps(xmm0, xmm1)); Binary("movlhps", a => a.movlhps(xmm0, xmm1));
        Binary("movddup", a => a.movddup(xmm0, xmm1)); Binary("movshdup", a => a.movshdup(xmm0, xmm1)); Binary("movsldup", a => a.movsldup(xmm0, xmm1));
        return d;
    }

    public static TheoryData<string> Instructions() => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Instructions))]
    public void MatchesTheHost(string name)
    {
        var (emit, flags) = Cases[name];
        var rng = new Random(name.Sum(c => c * 37) ^ 91);
        using var host = new HostSse();
        using var g = new SseGuest();
        var bytes = new byte[16];
        for (int i = 0; i < 24; i++)
        {
            Vector128<byte> a = RandomVector(rng, bytes), b = RandomVector(rng, bytes);
            uint raxIn = (uint)rng.Next() ^ (uint)rng.Next(2) << 31;
            var hs = host.Run(emit, new HostSse.State { Xmm0 = a, Xmm1 = b, MxcsrIn = 0x1F80, Rax = raxIn });
            var es = g.Run(asm => { asm.mov(eax, raxIn); emit(asm); }, new[] { a, b });
            Registers regs = g.Vcpu.GetRegisters();
            string ctx = $"{name} a={a} b={b} eax={raxIn:X}";
            Assert.True(hs.Xmm0 == SseGuest.Xmm(es, 0), $"{ctx}: host {hs.Xmm0} emu {SseGuest.Xmm(es, 0)}");
            Assert.True((uint)hs.Rax == (uint)regs.Rax, $"{ctx}: host eax {(uint)hs.Rax:X} emu {(uint)regs.Rax:X}");
            if (flags) Assert.True((hs.Rflags & FlagMask) == (regs.Rflags & FlagMask), $"{ctx}: host flags {hs.Rflags & FlagMask:X} emu {regs.Rflags & FlagMask:X}");
        }
    }

    private static Vector128<byte> RandomVector(Random r, byte[] bytes)
    {
        r.NextBytes(bytes);
        switch (r.Next(5))
        {
            case 0: Array.Fill(bytes, (byte)(r.Next(2) == 0 ? 0x80 : 0x7F)); break;
            case 1: for (int i = 0; i < 16; i++) bytes[i] = (byte)(r.Next(3) - 1); break;
            case 2: for (int i = 0; i < 16; i += 2) { bytes[i] = (byte)(r.Next(2) == 0 ? 0 : 0xFF); bytes[i + 1] = (byte)(r.Next(2) == 0 ? 0x80 : 0x7F); } break;
        }
        return Vector128.Create(bytes);
    }
}
