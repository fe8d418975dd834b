namespace Vessel.Vmm.Buses;

internal static class AccessSize
{
    /// <summary>The value an access of <paramref name="size"/> bytes reads from nothing: all ones.</summary>
    public static ulong AllOnes(int size) => size >= 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;

    public static void Validate(int size, int max)
    {
        if (size is not (1 or 2 or 4 or 8) || size > max)
            throw new ArgumentOutOfRangeException(nameof(size), size, $"access size must be 1, 2, 4{(max == 8 ? " or 8" : "")}");
    }
}
