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
}
