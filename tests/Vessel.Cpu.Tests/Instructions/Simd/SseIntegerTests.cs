using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>Packed integer SSE instructions on the emu CPU against the host's own SSE.</summary>
public class SseIntegerTests
{
    private static readonly (Action<Assembler> Emit, Func<Vector128<byte>, Vector128<byte>, Vector128<byte>> Host, string Name)[] Cases =
    {
        (a => a.pxor(xmm0, xmm1), (x, y) => x ^ y, "pxor"),
        (a => a.pcmpeqb(xmm0, xmm1), (x, y) => Sse2.CompareEqual(x, y), "pcmpeqb"),
        (a => a.psubb(xmm0, xmm1), (x, y) => Sse2.Subtract(x, y), "psubb"),
        (a => a.pminub(xmm0, xmm1), (x, y) => Sse2.Min(x, y), "pminub"),
        (a => a.paddsw(xmm0, xmm1), (x, y) => Sse2.AddSaturate(x.AsInt16(), y.AsInt16()).AsByte(), "paddsw"),
        (a => a.punpcklbw(xmm0, xmm1), (x, y) => Sse2.UnpackLow(x, y), "punpcklbw"),
        (a => a.punpckhqdq(xmm0, xmm1), (x, y) => Sse2.UnpackHigh(x.AsUInt64(), y.AsUInt64()).AsByte(), "punpckhqdq"),
        (a => a.packuswb(xmm0, xmm1), (x, y) => Sse2.PackUnsignedSaturate(x.AsInt16(), y.AsInt16()), "packuswb"),
        (a => a.pmaddwd(xmm0, xmm1), (x, y) => Sse2.MultiplyAddAdjacent(x.AsInt16(), y.AsInt16()).AsByte(), "pmaddwd"),
        (a => a.psadbw(xmm0, xmm1), (x, y) => Sse2.SumAbsoluteDifferences(x, y).AsByte(), "psadbw"),
        (a => a.pshufd(xmm0, xmm1, 0x1B), (x, y) => Sse2.Shuffle(y.AsUInt32(), 0x1B).AsByte(), "pshufd"),
        (a => a.pshufhw(xmm0, xmm1, 0x8D), (x, y) => Sse2.ShuffleHigh(y.AsUInt16(), 0x8D).AsByte(), "pshufhw"),
        (a => a.psrldq(xmm0, 5), (x, y) => Sse2.ShiftRightLogical128BitLane(x, 5), "psrldq"),
        (a => a.pslldq(xmm0, 11), (x, y) => Sse2.ShiftLeftLogical128BitLane(x, 11), "pslldq"),
        (a => a.psraw(xmm0, 3), (x, y) => Sse2.ShiftRightArithmetic(x.AsInt16(), 3).AsByte(), "psraw imm"),
        (a => a.psllq(xmm0, xmm1), (x, y) => Sse2.ShiftLeftLogical(x.AsUInt64(), y.AsUInt64()).AsByte(), "psllq xmm"),
        (a => a.pshufb(xmm0, xmm1), (x, y) => Ssse3.Shuffle(x, y), "pshufb"),
        (a => a.palignr(xmm0, xmm1, 7), (x, y) => Ssse3.AlignRight(x, y, 7), "palignr"),
        (a => a.pminsd(xmm0, xmm1), (x, y) => Sse41.Min(x.AsInt32(), y.AsInt32()).AsByte(), "pminsd"),
        (a => a.pcmpgtq(xmm0, xmm1), (x, y) => Sse42.CompareGreaterThan(x.AsInt64(), y.AsInt64()).AsByte(), "pcmpgtq"),
        (a => a.shufps(xmm0, xmm1, 0x4E), (x, y) => Sse.Shuffle(x.AsSingle(), y.AsSingle(), 0x4E).AsByte(), "shufps"),
        (a => a.movddup(xmm0, xmm1), (x, y) => Sse3.MoveAndDuplicate(y.AsDouble()).AsByte(), "movddup"),
        (a => a.movshdup(xmm0, xmm1), (x, y) => Sse3.MoveHighAndDuplicate(y.AsSingle()).AsByte(), "movshdup"),
        (a => a.movsldup(xmm0, xmm1), (x, y) => Sse3.MoveLowAndDuplicate(y.AsSingle()).AsByte(), "movsldup"),
        (a => a.pmovsxbw(xmm0, xmm1), (x, y) => Sse41.ConvertToVector128Int16(y.AsSByte()).AsByte(), "pmovsxbw"),
        (a => a.mpsadbw(xmm0, xmm1, 0), (x, y) => Sse41.MultipleSumAbsoluteDifferences(x, y, 0).AsByte(), "mpsadbw 0"),
        (a => a.mpsadbw(xmm0, xmm1, 3), (x, y) => Sse41.MultipleSumAbsoluteDifferences(x, y, 3).AsByte(), "mpsadbw 3"),
        (a => a.mpsadbw(xmm0, xmm1, 5), (x, y) => Sse41.MultipleSumAbsoluteDifferences(x, y, 5).AsByte(), "mpsadbw 5"),
        (a => a.mpsadbw(xmm0, xmm1, 6), (x, y) => Sse41.MultipleSumAbsoluteDifferences(x, y, 6).AsByte(), "mpsadbw 6"),
        (a => a.mpsadbw(xmm0, xmm1, 0xFF), (x, y) => Sse41.MultipleSumAbsoluteDifferences(x, y, 0xFF).AsByte(), "mpsadbw FF"),
    };

    [Fact]
    public void PackedIntegerOpsMatchTheHost()
    {
        var rng = new Random(1234);
        using var g = new SseGuest();
        var x = new byte[16];
        var y = new byte[16];
        foreach (var c in Cases)
        {
            for (int round = 0; round < 8; round++)
            {
                rng.NextBytes(x); rng.NextBytes(y);
                if (round == 0) { Array.Fill(x, (byte)0x80); Array.Fill(y, (byte)0x7F); }
                Vector128<byte> a = Vector128.Create(x), b = Vector128.Create(y);
                var s = g.Run(c.Emit, new[] { a, b });
                Assert.True(c.Host(a, b) == SseGuest.Xmm(s, 0), $"{c.Name}: {c.Host(a, b)} vs {SseGuest.Xmm(s, 0)}");
            }
        }
    }

    [Fact]
    public void PmovmskbAndMovdqaThroughMemory()
    {
        using var g = new SseGuest();
        var v = Vector128.Create((byte)0x80, 1, 0xFF, 2, 3, 0x90, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0xF0);
        var bytes = new byte[16]; v.CopyTo(bytes); g.Memory.Write(SseGuest.DataAddress, bytes);
        var s = g.Run(a =>
        {
            a.movdqa(xmm2, __xmmword_ptr[SseGuest.DataAddress]);
            a.pmovmskb(eax, xmm2);
            a.movd(xmm3, eax);
            a.movdqu(__xmmword_ptr[SseGuest.DataAddress + 0x21], xmm2);
            a.movq(xmm4, __qword_ptr[SseGuest.DataAddress + 0x29]);
        }, new Vector128<byte>[16]);
        Assert.Equal(Vector128.CreateScalar((uint)Sse2.MoveMask(v)).AsByte(), SseGuest.Xmm(s, 3));
        Assert.Equal(v, SseGuest.Xmm(s, 2));
        Assert.Equal(Vector128.CreateScalar(v.AsUInt64().GetElement(1)).AsByte(), SseGuest.Xmm(s, 4));
    }

    [Fact]
    public void MaskmovdquStoresOnlyTheSelectedBytesAtEdi()
    {
        using var g = new SseGuest();
        var background = Enumerable.Repeat((byte)0xEE, 16).ToArray();
        g.Memory.Write(SseGuest.DataAddress + 3, background);
        var data = Vector128.Create((byte)1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
        var mask = Vector128.Create((byte)0x80, 0, 0xFF, 0x7F, 0, 0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0);
        g.Run(a => { a.mov(edi, (uint)SseGuest.DataAddress + 3); a.maskmovdqu(xmm0, xmm1); }, new[] { data, mask });
        var got = new byte[16];
        g.Memory.Read(SseGuest.DataAddress + 3, got);
        var expected = new byte[16];
        for (int i = 0; i < 16; i++) expected[i] = (mask.GetElement(i) & 0x80) != 0 ? data.GetElement(i) : (byte)0xEE;
        Assert.Equal(expected, got);
    }

    [Fact]
    public void Sse41MemoryFormsLoadTheirOperandSizeAndCheckAlignment()
    {
        using var g = new SseGuest();
        var bytes = new byte[32];
        BitConverter.TryWriteBytes(bytes.AsSpan(4), 2.5f);
        BitConverter.TryWriteBytes(bytes.AsSpan(16), 7.75);
        BitConverter.TryWriteBytes(bytes.AsSpan(24), -1.5);
        g.Memory.Write(SseGuest.DataAddress, bytes);
        var s = g.Run(a =>
        {
            a.roundss(xmm2, __dword_ptr[SseGuest.DataAddress + 4], 0);           // m32 needs no alignment
            a.roundpd(xmm3, __xmmword_ptr[SseGuest.DataAddress + 16], 1);        // floor
            a.insertps(xmm4, __dword_ptr[SseGuest.DataAddress + 4], 0x20);      // to lane 2
            a.extractps(__dword_ptr[SseGuest.DataAddress + 0x40], xmm4, 2);
        }, new Vector128<byte>[16]);
        Assert.Equal("", g.Exceptions);
        Assert.Equal(2.0f, SseGuest.Xmm(s, 2).AsSingle().GetElement(0));
        Assert.Equal(Vector128.Create(7.0, -2.0), SseGuest.Xmm(s, 3).AsDouble());
        Assert.Equal(Vector128.Create(0f, 0f, 2.5f, 0f), SseGuest.Xmm(s, 4).AsSingle());
        var out4 = new byte[4];
        g.Memory.Read(SseGuest.DataAddress + 0x40, out4);
        Assert.Equal(2.5f, BitConverter.ToSingle(out4));
        using var g2 = new SseGuest();
        g2.Run(a => a.roundps(xmm2, __xmmword_ptr[SseGuest.DataAddress + 4], 0), new Vector128<byte>[16], realMode: true);
        Assert.Equal(((char)('A' + Vector.GP)).ToString(), g2.Exceptions);
    }
}
