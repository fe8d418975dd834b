using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static Vessel.Cpu.Tests.Fpu.X87Differential;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>FPREM, FPREM1, FSCALE, FXTRACT, FBLD and FBSTP on the emu CPU against the host's x87, bit for bit:
/// results, C0-C3 and exception flags, under every precision and rounding control.</summary>
[Collection("HostCpu")]
public class X87ScaleTests
{
    private delegate void Fill(Random r, byte[] block);

    private static readonly Dictionary<string, (Action<Assembler, bool> Op, Fill Fill)> Cases = new()
    {
        ["fprem"] = ((a, h) => a.fprem(), RemainderOperands),
        ["fprem1"] = ((a, h) => a.fprem1(), RemainderOperands),
        ["fprem_loop"] = ((a, h) => { for (int i = 0; i < 6; i++) a.fprem(); }, RemainderOperands),
        ["fscale"] = ((a, h) => a.fscale(), ScaleOperands),
        ["fxtract"] = ((a, h) => a.fxtract(), AnyOperands),
        ["fbld"] = ((a, h) => { a.fbld(__tword_ptr[Mem(h, 100)]); a.fxch(st0, st1); }, BcdOperand),
        ["fbstp"] = ((a, h) => { a.fbstp(__tword_ptr[Mem(h, 100)]); a.fld1(); }, BcdStoreOperand),
        ["stack_overflow"] = ((a, h) => { for (int i = 0; i < 6; i++) a.fldz(); a.fxtract(); a.fbld(__tword_ptr[Mem(h, 100)]); a.fptan(); a.fsincos(); a.fnstsw(__word_ptr[Mem(h, 90)]); }, AnyOperands),
        ["stack_underflow"] = ((a, h) => { a.ffree(st1); a.fprem(); a.fnstsw(__word_ptr[Mem(h, 90)]); a.fscale(); a.fnstsw(__word_ptr[Mem(h, 92)]); a.fpatan(); a.fld1(); a.fld1(); a.ffree(st0); a.fsin(); a.fxtract(); }, AnyOperands),
    };

    public static TheoryData<string> Names() => new(Cases.Keys);

    private static void AnyOperands(Random r, byte[] b)
    {
        Put(b, 8, RandomExtended(r));
        Put(b, 24, RandomExtended(r));
    }

    private static void RemainderOperands(Random r, byte[] b)
    {
        if (r.Next(6) == 0) { AnyOperands(r, b); return; }
        var x = RandomExtended(r);
        ulong m = (ulong)r.NextInt64() | 0x8000_0000_0000_0000UL;
        int e = (x.Exp & 0x7FFF) - r.Next(-3, 140);
        if (e <= 0 || (x.Exp & 0x7FFF) == 0x7FFF) e = 0x3FFF;
        Put(b, 8, x);
        Put(b, 24, (m, (ushort)((r.Next(2) << 15) | e)));
    }

    private static void ScaleOperands(Random r, byte[] b)
    {
        Put(b, 8, RandomExtended(r));
        if (r.Next(5) == 0) { Put(b, 24, RandomExtended(r)); return; }
        // A scale of up to +-2^17, fractional or not.
        int e = 0x3FFF + r.Next(-2, 17);
        Put(b, 24, ((ulong)r.NextInt64() | 0x8000_0000_0000_0000UL, (ushort)((r.Next(2) << 15) | e)));
    }

    private static void BcdOperand(Random r, byte[] b)
    {
        AnyOperands(r, b);
        for (int i = 0; i < 9; i++)
        {
            int digits = r.Next(4) == 0 ? 0 : r.Next(10) << 4 | r.Next(10);
            b[100 + i] = (byte)(r.Next(3) == 0 && i > 2 ? 0 : digits);
        }
        b[109] = (byte)(r.Next(2) << 7);
    }

    private static void BcdStoreOperand(Random r, byte[] b)
    {
        AnyOperands(r, b);
        if (r.Next(4) == 0) return;
        ulong m = (ulong)r.NextInt64() | 0x8000_0000_0000_0000UL;
        Put(b, 8, (m, (ushort)((r.Next(2) << 15) | (0x3FFF + r.Next(-3, 62)))));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void MatchesTheHostX87(string name)
    {
        var (op, fill) = Cases[name];
        var rng = new Random(name.GetHashCode(StringComparison.Ordinal) & 0xFFFF ^ name.Length * 7919);
        using var diff = new X87Differential();
        for (int i = 0; i < 400; i++)
        {
            var block = new byte[Block];
            BitConverter.TryWriteBytes(block.AsSpan(0), RandomControlWord(rng));
            fill(rng, block);
            var (host, emu) = diff.Run(op, block);
            Assert.True(host.AsSpan(0, 112).SequenceEqual(emu.AsSpan(0, 112)),
                $"{name} in  {Describe(block, 0, 112)}\nhost {Describe(host, 0, 112)}\nemu  {Describe(emu, 0, 112)}");
        }
    }
}
