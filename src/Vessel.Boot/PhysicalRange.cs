namespace Vessel.Boot;

/// <summary>A guest-physical range [Start, End).</summary>
public readonly record struct PhysicalRange(ulong Start, ulong End)
{
    public ulong Length => End - Start;

    public bool Overlaps(PhysicalRange other) => Start < other.End && other.Start < End;

    /// <summary>[start, start+length), or false if it would wrap past 2^64.</summary>
    public static bool TryCreate(ulong start, ulong length, out PhysicalRange range)
    {
        range = default;
        if (length > ulong.MaxValue - start) return false;
        range = new PhysicalRange(start, start + length);
        return true;
    }

    public override string ToString() => $"0x{Start:x}-0x{End:x}";
}
