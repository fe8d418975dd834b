using System.Runtime.Intrinsics;
using Iced.Intel;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>SSE floating-point instructions on the emu CPU against the host CPU, with operands that favour
/// edge values, under every rounding mode and with DAZ/FTZ, all exceptions masked.</summary>
[Collection("HostCpu")]
public class SseFloatTests
{
    private static readonly ulong[] DoubleEdges =
    {
        0, 0x8000_0000_0000_0000, 0x7FF0_0000_0000_0000, 0xFFF0_0000_0000_0000, 0x7FF8_0000_0000_0001, 0xFFF8_0000_0000_0000,
        0x7FF0_0000_0000_0001, 0xFFF4_0000_0000_1234, 1, 0x8000_0000_0000_0001, 0x000F_FFFF_FFFF_FFFF, 0x0010_0000_0000_0000,
        0x7FEF_FFFF_FFFF_FFFF, 0x3FF0_0000_0000_0000, 0x3FF0_0000_0000_0001, 0xBFF0_0000_0000_0000, 0x4000_0000_0000_0000,
        0x41E0_0000_0000_0000, 0xC1E0_0000_0000_0000, 0x43E0_0000_0000_0000, 0xC3E0_0000_0000_0000, 0x3FE0_0000_0000_0000,
        0x4008_0000_0000_0000, 0x3CA0_0000_0000_0000, 0x0010_0000_0000_0001, 0x001F_FFFF_FFFF_FFFF, 0x41DF_FFFF_FFC0_0000,
    };

    private static readonly uint[] SingleEdges =
    {
        0, 0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0001, 0xFFC0_0000, 0x7F80_0001, 0xFFA0_1234, 1, 0x8000_0001,
        0x007F_FFFF, 0x0080_0000, 0x7F7F_FFFF, 0x3F80_0000, 0x3F80_0001, 0xBF80_0000, 0x4F00_0000, 0xCF00_0000, 0x3F00_0000,
        0x4040_0000, 0x3380_0000, 0x0080_0001, 0x00FF_FFFF,
    };

    internal static ulong RandomDouble(Random r)
    {
        int k = r.Next(6);
        if (k == 0) return DoubleEdges[r.Next(DoubleEdges.Length)];
        if (k == 1) return (ulong)r.NextInt64() ^ ((ulong)r.Next(2) << 63);
        if (k == 2) return (ulong)(r.Next(0x3F0, 0x410)) << 52 | ((ulong)r.NextInt64() & 0xF_FFFF_FFFF_FFFF) | ((ulong)r.Next(2) << 63);
        if (k == 3) return ((ulong)r.Next(0, 0x40) << 52 | ((ulong)r.NextInt64() & 0xF_FFFF_FFFF_FFFF)) | ((ulong)r.Next(2) << 63);
        if (k == 4) return ((ulong)r.Next(0x7C0, 0x7FF) << 52 | ((ulong)r.NextInt64() & 0xF_FFFF_FFFF_FFFF)) | ((ulong)r.Next(2) << 63);
        return BitConverter.DoubleToUInt64Bits(r.Next(-100, 100) / 8.0);
    }

    internal static uint RandomSingle(Random r)
    {
        int k = r.Next(6);
        if (k == 0) return SingleEdges[r.Next(SingleEdges.Length)];
        if (k == 1) return (uint)r.Next() ^ ((uint)r.Next(2) << 31);
        if (k == 2) return (uint)r.Next(0x70, 0x90) << 23 | ((uint)r.Next() & 0x7F_FFFF) | ((uint)r.Next(2) << 31);
        if (k == 3) return (uint)r.Next(0, 8) << 23 | ((uint)r.Next() & 0x7F_FFFF) | ((uint)r.Next(2) << 31);
        if (k == 4) return (uint)r.Next(0xF0, 0xFF) << 23 | ((uint)r.Next() & 0x7F_FFFF) | ((uint)r.Next(2) << 31);
        return BitConverter.SingleToUInt32Bits(r.Next(-100, 100) / 8.0f);
    }

    internal static Vector128<byte> RandomVector(Random r, bool dbl) => dbl
        ? Vector128.Create(RandomDouble(r), RandomDouble(r)).AsByte()
        : Vector128.Create(RandomSingle(r), RandomSingle(r), RandomSingle(r), RandomSingle(r)).AsByte();

    public static TheoryData<string> Instructions() => new(Cases.Keys);

    private static readonly Dictionary<string, (Action<Assembler> Emit, bool Double)> Cases = new()
    {
        ["addsd"] = (a => a.addsd(xmm0, xmm1), true), ["subsd"] = (a => a.subsd(xmm0, xmm1), true),
        ["mulsd"] = (a => a.mulsd(xmm0, xmm1), true), ["divsd"] = (a => a.divsd(xmm0, xmm1), true),
        ["sqrtsd"] = (a => a.sqrtsd(xmm0, xmm1), true), ["minsd"] = (a => a.minsd(xmm0, xmm1), true),
        ["maxsd"] = (a => a.maxsd(xmm0, xmm1), true), ["addpd"] = (a => a.addpd(xmm0, xmm1), true),
        ["mulpd"] = (a => a.mulpd(xmm0, xmm1), true), ["divpd"] = (a => a.divpd(xmm0, xmm1), true),
        ["addss"] = (a => a.addss(xmm0, xmm1), false), ["subps"] = (a => a.subps(xmm0, xmm1), false),
        ["mulps"] = (a => a.mulps(xmm0, xmm1), false), ["divss"] = (a => a.divss(xmm0, xmm1), false),
        ["sqrtps"] = (a => a.sqrtps(xmm0, xmm1), false), ["minps"] = (a => a.minps(xmm0, xmm1), false),
        ["maxss"] = (a => a.maxss(xmm0, xmm1), false),
        ["cmpsd_all"] = (a => { for (int p = 0; p < 8; p++) { a.movdqa(xmm2, xmm0); a.cmpsd(xmm2, xmm1, (byte)p); a.pslldq(xmm0, 1); a.por(xmm0, xmm2); } }, true),
        ["cmpps_all"] = (a => { for (int p = 0; p < 8; p++) { a.movdqa(xmm2, xmm0); a.cmpps(xmm2, xmm1, (byte)p); a.psrldq(xmm0, 1); a.pxor(xmm0, xmm2); } }, false),
        ["ucomisd"] = (a => { a.ucomisd(xmm0, xmm1); a.lahf(); }, true),
        ["comiss"] = (a => { a.comiss(xmm0, xmm1); a.lahf(); }, false),
        ["cvtsd2ss"] = (a => a.cvtsd2ss(xmm0, xmm1), true), ["cvtss2sd"] = (a => a.cvtss2sd(xmm0, xmm1), false),
        ["cvtpd2ps"] = (a => a.cvtpd2ps(xmm0, xmm1), true), ["cvtps2pd"] = (a => a.cvtps2pd(xmm0, xmm1), false),
        ["cvtps2dq"] = (a => a.cvtps2dq(xmm0, xmm1), false), ["cvttpd2dq"] = (a => a.cvttpd2dq(xmm0, xmm1), true),
        ["cvtpd2dq"] = (a => a.cvtpd2dq(xmm0, xmm1), true), ["cvtdq2ps"] = (a => a.cvtdq2ps(xmm0, xmm1), false),
        ["cvttsd2si"] = (a => a.cvttsd2si(eax, xmm1), true), ["cvtsd2si"] = (a => a.cvtsd2si(eax, xmm1), true),
        ["cvttss2si"] = (a => a.cvttss2si(eax, xmm1), false),
        ["cvtsi2sd"] = (a => { a.movd(eax, xmm1); a.cvtsi2sd(xmm0, eax); }, false),
        ["cvtsi2ss"] = (a => { a.movd(eax, xmm1); a.cvtsi2ss(xmm0, eax); }, false),
        ["haddpd"] = (a => a.haddpd(xmm0, xmm1), true), ["addsubps"] = (a => a.addsubps(xmm0, xmm1), false),
        ["addps"] = (a => a.addps(xmm0, xmm1), false), ["subpd"] = (a => a.subpd(xmm0, xmm1), true),
        ["subss"] = (a => a.subss(xmm0, xmm1), false), ["mulss"] = (a => a.mulss(xmm0, xmm1), false),
        ["mulsd"] = (a => a.mulsd(xmm0, xmm1), true), ["divps"] = (a => a.divps(xmm0, xmm1), false),
        ["sqrtpd"] = (a => a.sqrtpd(xmm0, xmm1), true), ["sqrtss"] = (a => a.sqrtss(xmm0, xmm1), false),
        ["minpd"] = (a => a.minpd(xmm0, xmm1), true), ["minss"] = (a => a.minss(xmm0, xmm1), false),
        ["maxpd"] = (a => a.maxpd(xmm0, xmm1), true), ["maxps"] = (a => a.maxps(xmm0, xmm1), false),
        ["cmppd_all"] = (a => { for (int p = 0; p < 8; p++) { a.movdqa(xmm2, xmm0); a.cmppd(xmm2, xmm1, (byte)p); a.psrldq(xmm0, 1); a.pxor(xmm0, xmm2); } }, true),
        ["cmpss_all"] = (a => { for (int p = 0; p < 8; p++) { a.movdqa(xmm2, xmm0); a.cmpss(xmm2, xmm1, (byte)p); a.pslldq(xmm0, 1); a.por(xmm0, xmm2); } }, false),
        ["comisd"] = (a => { a.comisd(xmm0, xmm1); a.lahf(); }, true),
        ["ucomiss"] = (a => { a.ucomiss(xmm0, xmm1); a.lahf(); }, false),
        ["cvtss2si"] = (a => a.cvtss2si(eax, xmm1), false), ["cvttps2dq"] = (a => a.cvttps2dq(xmm0, xmm1), false),
        ["cvtdq2pd"] = (a => a.cvtdq2pd(xmm0, xmm1), false),
        ["haddps"] = (a => a.haddps(xmm0, xmm1), false), ["hsubps"] = (a => a.hsubps(xmm0, xmm1), false),
        ["hsubpd"] = (a => a.hsubpd(xmm0, xmm1), true), ["addsubpd"] = (a => a.addsubpd(xmm0, xmm1), true),
    };

    [Theory]
    [MemberData(nameof(Instructions))]
    public void MatchesTheHostUnderEveryRoundingMode(string name)
    {
        var (emit, dbl) = Cases[name];
        CompareWithHost(name, emit, dbl, 400);
    }

    /// <summary>Runs <paramref name="emit"/> on the host and the emulator from random edge-favouring operands and
    /// MXCSR values (every rounding mode, DAZ, FTZ, sticky flags; exceptions masked) and compares XMM0, MXCSR, EAX.</summary>
    internal static void CompareWithHost(string name, Action<Assembler> emit, bool dbl, int iterations)
    {
        var rng = new Random(name.Sum(c => c * 31) ^ 77); // string hashes are randomised per process
        using var host = new HostSse();
        using var g = new SseGuest();
        for (int i = 0; i < iterations; i++)
        {
            uint mxcsr = 0x1F80 | (uint)rng.Next(4) << 13 | (rng.Next(3) == 0 ? 0x40u : 0) | (rng.Next(3) == 0 ? 0x8000u : 0)
                         | (uint)rng.Next(64) & (i % 2 == 0 ? 0x3Fu : 0);
            Vector128<byte> a = RandomVector(rng, dbl), b = RandomVector(rng, dbl);
            var hs = host.Run(emit, new HostSse.State { Xmm0 = a, Xmm1 = b, MxcsrIn = mxcsr });
            FpuState es = g.Run(emit, new[] { a, b }, mxcsr);
            Registers regs = g.Vcpu.GetRegisters();
            string ctx = $"{name} a={a} b={b} mxcsr={mxcsr:X}";
            Assert.True(hs.Xmm0 == SseGuest.Xmm(es, 0), $"{ctx}: host {hs.Xmm0} emu {SseGuest.Xmm(es, 0)}");
            Assert.True(hs.MxcsrOut == es.Mxcsr, $"{ctx}: host mxcsr {hs.MxcsrOut:X} emu {es.Mxcsr:X}");
            Assert.True((uint)hs.Rax == (uint)regs.Rax, $"{ctx}: host eax {(uint)hs.Rax:X} emu {(uint)regs.Rax:X}");
        }
    }
}
