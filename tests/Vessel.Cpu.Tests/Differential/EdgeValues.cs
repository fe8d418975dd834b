namespace Vessel.Cpu.Tests.Differential;

/// <summary>Random values biased towards the edges where flag and carry logic goes wrong.</summary>
internal static class EdgeValues
{
    public static ulong Full(Random r) => (ulong)r.NextInt64() ^ ((ulong)r.Next(2) << 63);

    public static ulong Mask(int bits) => bits >= 64 ? ulong.MaxValue : (1UL << bits) - 1;

    /// <summary>A value of <paramref name="bits"/> bits (zero-extended).</summary>
    public static ulong Of(Random r, int bits)
    {
        ulong sign = 1UL << (bits - 1);
        ulong v = r.Next(12) switch
        {
            0 => 0,
            1 => 1,
            2 => ulong.MaxValue,
            3 => sign,
            4 => sign - 1,
            5 => sign + 1,
            6 => (ulong)r.Next(256),
            7 => ulong.MaxValue - (ulong)r.Next(256),
            8 => 1UL << r.Next(bits),
            9 => Full(r) >> r.Next(64),
            _ => Full(r),
        };
        return v & Mask(bits);
    }

    /// <summary>A 64-bit register value whose low <paramref name="bits"/> are an edge value and whose upper bits
    /// are random (they must not leak into the result) or a sign/zero extension.</summary>
    public static ulong Register(Random r, int bits)
    {
        ulong low = Of(r, bits);
        if (bits == 64) return low;
        ulong upper = r.Next(3) switch { 0 => 0, 1 => ulong.MaxValue, _ => Full(r) };
        return (upper & ~Mask(bits)) | low;
    }

    /// <summary>A shift or rotate count for an operand of <paramref name="bits"/>: 0, 1, size-1, size, size+1,
    /// the masking edges and random bytes.</summary>
    public static byte ShiftCount(Random r, int bits) => (byte)(r.Next(10) switch
    {
        0 => 0,
        1 => 1,
        2 => bits - 1,
        3 => bits,
        4 => bits + 1,
        5 => 31,
        6 => 32,
        7 => 63 + r.Next(2),
        8 => r.Next(256),
        _ => r.Next(bits + 1),
    });

    /// <summary>Arithmetic flags and DF at random over the bits a user-mode POPF always keeps.</summary>
    public static ulong Flags(Random r) => CpuState.FixedFlags | ((ulong)r.Next() & CpuState.ComparedFlags);
}
