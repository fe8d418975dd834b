using System.Buffers.Binary;

namespace Vessel.Fuzz;

/// <summary>Deterministic byte-level mutations in the spirit of libFuzzer's: bit flips, boundary values written
/// over header fields, truncation, chunk copies and splices of two seeds. Offsets lean towards the first KiB,
/// where every format keeps its headers.</summary>
public sealed class Mutator(int seed)
{
    private static readonly ulong[] Boundaries =
    [
        0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0xFFF, 0x1000, 0x7FFF, 0x8000, 0xFFFF, 0x1_0000, 0x9_FC00, 0x10_0000, 0x20_0000,
        0x7FFF_FFFF, 0x8000_0000, 0xFFFF_F000, 0xFFFF_FFFF, 0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000,
        0xFFFF_FFFF_FFFF_F000, 0xFFFF_FFFF_FFFF_FFFF,
    ];

    private readonly Random _random = new(seed);

    public byte[] Mutate(IReadOnlyList<byte[]> seeds)
    {
        byte[] data = (byte[])seeds[_random.Next(seeds.Count)].Clone();
        int rounds = 1 + _random.Next(4);
        for (int i = 0; i < rounds; i++)
            data = MutateOnce(data, seeds);
        return data;
    }

    private byte[] MutateOnce(byte[] data, IReadOnlyList<byte[]> seeds)
    {
        if (data.Length == 0) return [(byte)_random.Next(256)];
        switch (_random.Next(8))
        {
            case 0:
                data[Offset(data.Length)] ^= (byte)(1 << _random.Next(8));
                return data;
            case 1:
                data[Offset(data.Length)] = (byte)Boundary();
                return data;
            case 2:
            case 3:
            {
                int width = 1 << (1 + _random.Next(3)); // 2, 4 or 8 bytes
                if (data.Length < width) return data;
                int at = Math.Min(Offset(data.Length) & ~(width - 1), data.Length - width);
                ulong value = _random.Next(4) == 0 ? Boundary() + (ulong)_random.Next(-16, 17) : Boundary();
                var span = data.AsSpan(at);
                if (width == 2) BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)value);
                else if (width == 4) BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)value);
                else BinaryPrimitives.WriteUInt64LittleEndian(span, value);
                return data;
            }
            case 4:
                return data[.._random.Next(data.Length)];
            case 5:
            {
                int from = _random.Next(data.Length), to = _random.Next(data.Length);
                int length = Math.Min(_random.Next(1, 64), Math.Min(data.Length - from, data.Length - to));
                Array.Copy(data, from, data, to, length);
                return data;
            }
            case 6:
            {
                byte[] other = seeds[_random.Next(seeds.Count)];
                int cut = _random.Next(Math.Min(data.Length, other.Length) + 1);
                return [.. data.AsSpan(0, cut), .. other.AsSpan(cut)];
            }
            default:
            {
                int at = _random.Next(data.Length + 1);
                var inserted = new byte[_random.Next(1, 32)];
                _random.NextBytes(inserted);
                return [.. data.AsSpan(0, at), .. inserted, .. data.AsSpan(at)];
            }
        }
    }

    private int Offset(int length) => _random.Next(4) != 0 ? _random.Next(Math.Min(length, 1024)) : _random.Next(length);

    private ulong Boundary() => Boundaries[_random.Next(Boundaries.Length)];
}

/// <summary>An input that made a target throw something other than its clean refusal.</summary>
public sealed class FuzzFinding(string target, int seed, int caseIndex, byte[] input, Exception inner)
    : Exception((caseIndex < 0
            ? $"fuzz target '{target}' threw {inner.GetType().Name} on its seed input {-1 - caseIndex}"
            : $"fuzz target '{target}' threw {inner.GetType().Name} on case {caseIndex} of seed {seed} (replay: vessel-fuzz mutate {target} {caseIndex + 1} {seed})")
        + $": {inner.Message}", inner)
{
    public byte[] Input { get; } = input;
}

/// <summary>Runs a target on its seeds and then on <c>cases</c> mutations drawn from a fixed seed.</summary>
public static class MutationRun
{
    public static void Run(FuzzTarget target, int cases, int seed)
    {
        var seeds = target.Seeds();
        for (int i = 0; i < seeds.Count; i++)
            RunOne(target, seed, -1 - i, seeds[i]);
        var mutator = new Mutator(seed);
        for (int i = 0; i < cases; i++)
            RunOne(target, seed, i, mutator.Mutate(seeds));
    }

    private static void RunOne(FuzzTarget target, int seed, int caseIndex, byte[] input)
    {
        try
        {
            target.Run(input);
        }
        catch (Exception ex)
        {
            throw new FuzzFinding(target.Name, seed, caseIndex, input, ex);
        }
    }
}
