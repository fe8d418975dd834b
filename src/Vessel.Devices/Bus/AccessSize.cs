using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Vessel.Devices.Bus;

internal static class AccessSize
{
    /// <summary>The value an access of <paramref name="size"/> bytes reads from nothing: all ones.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong AllOnes(int size) => size >= 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;

    /// <summary>On every port and MMIO access: the throw lives apart so that this check inlines.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Validate(int size, int max)
    {
        if (size is not (1 or 2 or 4 or 8) || size > max) ThrowInvalid(size, max);
    }

    [DoesNotReturn]
    private static void ThrowInvalid(int size, int max) =>
        throw new ArgumentOutOfRangeException(nameof(size), size, $"access size must be 1, 2, 4{(max == 8 ? " or 8" : "")}");
}
