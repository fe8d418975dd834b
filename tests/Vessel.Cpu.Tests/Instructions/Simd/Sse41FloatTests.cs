using System.Runtime.Intrinsics;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>SSE4.1 floating-point forms (ROUNDxx under every imm8, DPPS/DPPD, INSERTPS, EXTRACTPS) and the
/// RCP/RSQRT approximations on the emu CPU against the host CPU.</summary>
[Collection("HostCpu")]
public class Sse41FloatTests
{
    private static readonly Dictionary<string, (Action<Assembler> Emit, bool Double)> Cases = Build();

    private static Dictionary<string, (Action<Assembler>, bool)> Build()
    {
        var d = new Dictionary<string, (Action<Assembler>, bool)>();
        for (int imm = 0; imm < 16; imm++)
        {
            byte k = (byte)imm;
            d[$"roundps_{k}"] = (a => a.roundps(xmm0, xmm1, k), false);
            d[$"roundpd_{k}"] = (a => a.roundpd(xmm0, xmm1, k), true);
            d[$"roundss_{k}"] = (a => a.roundss(xmm0, xmm1, k), false);
            d[$"roundsd_{k}"] = (a => a.roundsd(xmm0, xmm1, k), true);
        }
        foreach (byte imm in new byte[] { 0xFF, 0xF1, 0x31, 0xC6, 0x5A, 0x9F, 0x00, 0x1E })
            d[$"dpps_{imm:X2}"] = (a => a.dpps(xmm0, xmm1, imm), false);
        foreach (byte imm in new byte[] { 0x33, 0x31, 0x12, 0x23, 0x03, 0x30 })
            d[$"dppd_{imm:X2}"] = (a => a.dppd(xmm0, xmm1, imm), true);
        foreach (byte imm in new byte[] { 0x00, 0x1B, 0x4C, 0x95, 0xE0, 0xFF, 0x30 })
            d[$"insertps_{imm:X2}"] = (a => a.insertps(xmm0, xmm1, imm), false);
        for (byte imm = 0; imm < 4; imm++)
        {
            byte k = imm;
            d[$"extractps_{k}"] = (a => a.extractps(eax, xmm1, k), false);
        }
        d["rcpps"] = (a => a.rcpps(xmm0, xmm1), false);
        d["rcpss"] = (a => a.rcpss(xmm0, xmm1), false);
        d["rsqrtps"] = (a => a.rsqrtps(xmm0, xmm1), false);
        d["rsqrtss"] = (a => a.rsqrtss(xmm0, xmm1), false);
        return d;
    }

    public static TheoryData<string> Instructions() => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Instructions))]
    public void MatchesTheHost(string name)
    {
        var (emit, dbl) = Cases[name];
        SseFloatTests.CompareWithHost(name, emit, dbl, 250);
    }

    [Fact]
    public void RoundRaisesXmForAnUnmaskedPrecisionExceptionUnlessImm8Bit3SuppressesIt()
    {
        var dest = Vector128.Create(7.0, 9.0).AsByte();
        var src = Vector128.Create(1.5, 3.0).AsByte();
        const uint precisionUnmasked = 0x1F80 & ~0x1000u;
        using var g1 = new SseGuest();
        var s1 = g1.Run(a => a.roundsd(xmm0, xmm1, 0), new[] { dest, src }, precisionUnmasked, realMode: true);
        Assert.Equal(((char)('A' + Vector.XM)).ToString(), g1.Exceptions);
        Assert.Equal(dest, SseGuest.Xmm(s1, 0));
        Assert.Equal(precisionUnmasked | 0x20, s1.Mxcsr);
        using var g2 = new SseGuest();
        var s2 = g2.Run(a => a.roundsd(xmm0, xmm1, 8), new[] { dest, src }, precisionUnmasked, realMode: true);
        Assert.Equal("", g2.Exceptions);
        Assert.Equal(Vector128.Create(2.0, 9.0).AsByte(), SseGuest.Xmm(s2, 0));
        Assert.Equal(precisionUnmasked, s2.Mxcsr);
    }

    [Fact]
    public void RoundOfASignallingNanRaisesXmWhenInvalidIsUnmasked()
    {
        var dest = Vector128.Create(1f, 2f, 3f, 4f).AsByte();
        var src = Vector128.Create(0x7F80_0001u, 0x3FC0_0000u, 0u, 0x7FC0_0000u).AsByte();
        const uint invalidUnmasked = 0x1F80 & ~0x80u;
        using var g = new SseGuest();
        var s = g.Run(a => a.roundps(xmm0, xmm1, 0xC), new[] { dest, src }, invalidUnmasked, realMode: true);
        Assert.Equal(((char)('A' + Vector.XM)).ToString(), g.Exceptions);
        Assert.Equal(dest, SseGuest.Xmm(s, 0));
        Assert.Equal(invalidUnmasked | 1, s.Mxcsr);
    }
}
