using System.Runtime.Intrinsics;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>x87 instructions on 80-bit operands on the emu CPU against the host's x87, under every precision
/// and rounding control, exceptions masked: stack contents, status word and stored memory compared.</summary>
[Collection("HostCpu")]
public class X87Tests
{
    private const int Block = 192;

    /// <summary>Memory operand at offset <paramref name="off"/> of the data block (host: rdi+64, emu: edi).</summary>
    private static AssemblerMemoryOperand Mem(bool host, int off) => host ? rdi + (64 + off) : edi + off;

    private static readonly Dictionary<string, Action<Assembler, bool>> Cases = new()
    {
        ["fadd"] = (a, h) => a.fadd(st0, st1),
        ["fsub"] = (a, h) => a.fsub(st0, st1),
        ["fsubr"] = (a, h) => a.fsubr(st0, st1),
        ["fmul"] = (a, h) => a.fmul(st0, st1),
        ["fdiv"] = (a, h) => a.fdiv(st0, st1),
        ["fdivrp"] = (a, h) => a.fdivrp(st1, st0),
        ["fsubp"] = (a, h) => a.fsubp(st1, st0),
        ["fsqrt"] = (a, h) => a.fsqrt(),
        ["frndint"] = (a, h) => a.frndint(),
        ["fxch_fchs_fabs"] = (a, h) => { a.fxch(st0, st1); a.fchs(); a.fxch(st0, st1); a.fabs(); },
        ["fcom"] = (a, h) => { a.fcom(st0, st1); a.fnstsw(__word_ptr[Mem(h, 100)]); a.fucomp(st0, st1); a.fnstsw(__word_ptr[Mem(h, 102)]); },
        ["fcomi"] = (a, h) => { a.fcomi(st0, st1); a.lahf(); a.mov(__byte_ptr[Mem(h, 104)], ah); a.fucomip(st0, st1); a.lahf(); a.mov(__byte_ptr[Mem(h, 105)], ah); },
        ["fxam_ftst"] = (a, h) => { a.fxam(); a.fnstsw(__word_ptr[Mem(h, 100)]); a.ftst(); },
        ["fst_m64"] = (a, h) => a.fst(__qword_ptr[Mem(h, 100)]),
        ["fst_m32"] = (a, h) => a.fst(__dword_ptr[Mem(h, 100)]),
        ["fistp_m64"] = (a, h) => a.fistp(__qword_ptr[Mem(h, 100)]),
        ["fistp_m32"] = (a, h) => a.fistp(__dword_ptr[Mem(h, 100)]),
        ["fist_m16"] = (a, h) => a.fist(__word_ptr[Mem(h, 100)]),
        ["fisttp_m32"] = (a, h) => a.fisttp(__dword_ptr[Mem(h, 100)]),
        ["fld_m64_m32"] = (a, h) => { a.fld(__qword_ptr[Mem(h, 8)]); a.fld(__dword_ptr[Mem(h, 24)]); a.faddp(st1, st0); },
        ["fild_fimul"] = (a, h) => { a.fild(__qword_ptr[Mem(h, 8)]); a.fimul(__dword_ptr[Mem(h, 24)]); },
        ["constants"] = (a, h) => { a.fldpi(); a.fldl2e(); a.fldl2t(); a.fldlg2(); a.fldln2(); a.fld1(); a.fldz();
            for (int i = 0; i < 7; i++) a.fstp(__tword_ptr[Mem(h, 100) + 10 * i]); },
    };

    public static TheoryData<string> Instructions() => new(Cases.Keys);

    private static void Sequence(Assembler a, bool host, Action<Assembler, bool> op)
    {
        a.fninit();
        a.fldcw(__word_ptr[Mem(host, 0)]);
        a.fld(__tword_ptr[Mem(host, 24)]);
        a.fld(__tword_ptr[Mem(host, 8)]);
        op(a, host);
        a.fnstsw(__word_ptr[Mem(host, 2)]);
        a.fstp(__tword_ptr[Mem(host, 40)]);
        a.fstp(__tword_ptr[Mem(host, 56)]);
        a.fnstsw(__word_ptr[Mem(host, 4)]);
        a.fninit();
    }

    private static (ulong Mant, ushort Exp) RandomExtended(Random r) => X87Differential.RandomExtended(r);

    [Theory]
    [MemberData(nameof(Instructions))]
    public void MatchesTheHostX87(string name)
    {
        var op = Cases[name];
        var rng = new Random(name.Length * 7919 + name[0]);
        using var host = new HostSse();
        using var g = new SseGuest();
        var block = new byte[Block];
        for (int i = 0; i < 300; i++)
        {
            Array.Clear(block);
            ushort fcw = (ushort)(0x3F | (new[] { 0, 2, 3 }[rng.Next(3)] << 8) | (rng.Next(4) << 10));
            BitConverter.TryWriteBytes(block.AsSpan(0), fcw);
            var (m1, e1) = RandomExtended(rng);
            var (m2, e2) = RandomExtended(rng);
            BitConverter.TryWriteBytes(block.AsSpan(8), m1); BitConverter.TryWriteBytes(block.AsSpan(16), e1);
            BitConverter.TryWriteBytes(block.AsSpan(24), m2); BitConverter.TryWriteBytes(block.AsSpan(32), e2);
            byte[] hostBlock = RunHost(host, op, block);
            g.Memory.Write(SseGuest.DataAddress, block);
            g.Run(a => Sequence(a, false, op), new Vector128<byte>[2], rdi: SseGuest.DataAddress);
            var emuBlock = new byte[Block];
            g.Memory.Read(SseGuest.DataAddress, emuBlock);
            Assert.True(hostBlock.AsSpan().SequenceEqual(emuBlock),
                $"{name} fcw={fcw:X} a={e1:X4}:{m1:X16} b={e2:X4}:{m2:X16}\nhost {Convert.ToHexString(hostBlock)}\nemu  {Convert.ToHexString(emuBlock)}");
        }
    }

    private static unsafe byte[] RunHost(HostSse host, Action<Assembler, bool> op, byte[] block)
    {
        var state = new byte[64 + Block];
        block.CopyTo(state, 64);
        fixed (byte* p = state)
        {
            var s = new HostSse.State { MxcsrIn = 0x1F80 };
            host.RunRaw(a => Sequence(a, true, op), p, s);
        }
        return state[64..];
    }
}
