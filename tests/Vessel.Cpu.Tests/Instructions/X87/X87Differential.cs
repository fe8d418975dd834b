using System.Runtime.Intrinsics;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Fpu;

/// <summary>Runs an x87 sequence natively on the host (64-bit) and on the emu CPU (32-bit protected mode) from the
/// same data block and returns both blocks afterwards. Block layout: [0] FCW loaded first, [2] FSW after the
/// operation, [4] FSW after two pops, [8] ST(0) and [24] ST(1) inputs (80-bit), [40] ST(0) and [56] ST(1)
/// results, [96..] free for the operation's own memory operands.</summary>
internal sealed class X87Differential : IDisposable
{
    public const int Block = 320;
    private readonly HostSse _host = new();
    private readonly SseGuest _guest = new();

    /// <summary>Memory operand at offset <paramref name="off"/> of the data block (host: rdi+64, emu: edi).</summary>
    public static AssemblerMemoryOperand Mem(bool host, int off) => host ? rdi + (64 + off) : edi + off;

    /// <summary>With exceptions unmasked: the operation (one instruction: a second waiting one would raise #MF,
    /// a signal in the host process), then the non-waiting FNSAVE of the whole state at [200] (108 bytes).</summary>
    public static void UnmaskedSequence(Assembler a, bool host, Action<Assembler, bool> op) =>
        Sequence(a, host, (x, h) => { op(x, h); x.fnsave(__[Mem(h, 200)]); });

    public static void Sequence(Assembler a, bool host, Action<Assembler, bool> op)
    {
        a.fninit();
        for (int i = 0; i < 8; i++) a.fldz(); // empty registers keep their contents: make them known
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

    public (byte[] Host, byte[] Emu) Run(Action<Assembler, bool> op, byte[] block, bool unmasked = false)
    {
        Action<Assembler, bool, Action<Assembler, bool>> sequence = unmasked ? UnmaskedSequence : Sequence;
        byte[] hostBlock = RunHost((a, h) => sequence(a, h, op), block);
        _guest.Memory.Write(SseGuest.DataAddress, block);
        _guest.Run(a => sequence(a, false, op), new Vector128<byte>[2], rdi: SseGuest.DataAddress);
        var emuBlock = new byte[Block];
        _guest.Memory.Read(SseGuest.DataAddress, emuBlock);
        return (hostBlock, emuBlock);
    }

    private unsafe byte[] RunHost(Action<Assembler, bool> op, byte[] block)
    {
        var state = new byte[64 + Block];
        block.CopyTo(state, 64);
        fixed (byte* p = state)
            _host.RunRaw(a => op(a, true), p, new HostSse.State { MxcsrIn = 0x1F80 });
        return state[64..];
    }

    public static ushort RandomControlWord(Random r) =>
        (ushort)(0x3F | (new[] { 0, 2, 3 }[r.Next(3)] << 8) | (r.Next(4) << 10));

    public static void Put(byte[] block, int off, (ulong Mant, ushort Exp) v)
    {
        BitConverter.TryWriteBytes(block.AsSpan(off), v.Mant);
        BitConverter.TryWriteBytes(block.AsSpan(off + 8), v.Exp);
    }

    /// <summary>An edge-biased 80-bit value: zeros, infinities, NaNs of both kinds, denormals, small integers,
    /// unnormals, pseudo-denormals, pseudo-NaNs/infinities, any exponent, exponents near 1.</summary>
    public static (ulong Mant, ushort Exp) RandomExtended(Random r)
    {
        ulong m = (ulong)r.NextInt64() | ((ulong)r.Next(2) << 63);
        ushort sign = (ushort)(r.Next(2) << 15);
        switch (r.Next(10))
        {
            case 0: return (0, sign);
            case 1: return (0x8000_0000_0000_0000UL, (ushort)(sign | 0x7FFF));
            case 2: return (m | 0x8000_0000_0000_0000UL, (ushort)(sign | 0x7FFF));
            case 3: return (m & 0x7FFF_FFFF_FFFF_FFFFUL, sign);
            case 4: return ((ulong)r.Next(1, 1 << 20) << 43 | 0x8000_0000_0000_0000UL, (ushort)(sign | (0x3FFF + r.Next(0, 20))));
            case 5: return (m | 0x8000_0000_0000_0000UL, (ushort)(sign | r.Next(1, 0x7FFF)));
            case 6 when r.Next(3) == 0: return (m & 0x7FFF_FFFF_FFFF_FFFFUL, (ushort)(sign | r.Next(1, 0x8000))); // unnormal, pseudo-NaN/infinity
            case 7 when r.Next(3) == 0: return (m | 0x8000_0000_0000_0000UL, sign); // pseudo-denormal
            default: return (m | 0x8000_0000_0000_0000UL, (ushort)(sign | (0x3FFF + r.Next(-70, 70))));
        }
    }

    public static string Describe(byte[] block, int from, int to) => Convert.ToHexString(block.AsSpan(from, to - from));

    public void Dispose()
    {
        _host.Dispose();
        _guest.Dispose();
    }
}
