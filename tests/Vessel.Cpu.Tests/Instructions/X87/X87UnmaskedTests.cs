using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static Vessel.Cpu.Tests.Fpu.X87Differential;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>x87 instructions with random exception masks against the host: what an unmasked exception leaves
/// behind (destination kept or written, stack popped or not, ES/B and flags), read by a non-waiting FNSAVE.</summary>
[Collection("HostCpu")]
public class X87UnmaskedTests
{
    private static readonly Dictionary<string, Action<Assembler, bool>> Cases = new()
    {
        ["faddp"] = (a, h) => a.faddp(st1, st0),
        ["fmul"] = (a, h) => a.fmul(st0, st1),
        ["fdivp"] = (a, h) => a.fdivp(st1, st0),
        ["fsqrt"] = (a, h) => a.fsqrt(),
        ["fst_m32"] = (a, h) => a.fstp(__dword_ptr[Mem(h, 100)]),
        ["fistp_m16"] = (a, h) => a.fistp(__word_ptr[Mem(h, 100)]),
        ["fld_m32"] = (a, h) => a.fld(__dword_ptr[Mem(h, 12)]),
        ["fcomp"] = (a, h) => a.fcomp(st0, st1),
        ["fprem"] = (a, h) => a.fprem(),
        ["fscale"] = (a, h) => a.fscale(),
        ["fxtract"] = (a, h) => a.fxtract(),
        ["frndint"] = (a, h) => a.frndint(),
        ["fbstp"] = (a, h) => a.fbstp(__tword_ptr[Mem(h, 100)]),
        ["fsubr"] = (a, h) => a.fsubr(st0, st1),
        ["fdivr_m64"] = (a, h) => a.fdivr(__qword_ptr[Mem(h, 24)]),
        ["fiadd_m32"] = (a, h) => a.fiadd(__dword_ptr[Mem(h, 12)]),
        ["fst_m64"] = (a, h) => a.fst(__qword_ptr[Mem(h, 100)]),
        ["fistp_m64"] = (a, h) => a.fistp(__qword_ptr[Mem(h, 100)]),
        ["fisttp_m32"] = (a, h) => a.fisttp(__dword_ptr[Mem(h, 100)]),
        ["fcomi"] = (a, h) => { a.fcomi(st0, st1); a.lahf(); a.mov(__byte_ptr[Mem(h, 96)], ah); },
        ["fucomip"] = (a, h) => { a.fucomip(st0, st1); a.lahf(); a.mov(__byte_ptr[Mem(h, 96)], ah); },
        ["fcom_m64"] = (a, h) => a.fcom(__qword_ptr[Mem(h, 24)]),
        ["fprem1"] = (a, h) => a.fprem1(),
        ["fsqrt_pc"] = (a, h) => a.fsqrt(),
        ["fxch"] = (a, h) => a.fxch(st0, st1),
        ["fld_st1"] = (a, h) => a.fld(st1),
        ["fldpi"] = (a, h) => a.fldpi(),
    };

    public static TheoryData<string> Names() => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public void MatchesTheHost(string name)
    {
        var op = Cases[name];
        var rng = new Random(name.Length * 977 + name[0] * 13 + name[^1]);
        using var diff = new X87Differential();
        for (int i = 0; i < 300; i++)
        {
            var block = new byte[Block];
            ushort fcw = (ushort)(RandomControlWord(rng) & ~rng.Next(64));
            BitConverter.TryWriteBytes(block.AsSpan(0), fcw);
            Put(block, 8, RandomExtended(rng));
            Put(block, 24, RandomExtended(rng));
            var (host, emu) = diff.Run(op, block, unmasked: true);
            foreach (var b in new[] { host, emu }) b.AsSpan(200 + 12, 16).Clear(); // instruction/data pointers
            Assert.True(host.AsSpan(0, 308).SequenceEqual(emu.AsSpan(0, 308)),
                $"{name} fcw={fcw:X4} in {Describe(block, 8, 34)}\nhost {Describe(host, 100, 110)} | {Describe(host, 200, 228)} | {Describe(host, 228, 248)}\nemu  {Describe(emu, 100, 110)} | {Describe(emu, 200, 228)} | {Describe(emu, 228, 248)}");
        }
    }
}
