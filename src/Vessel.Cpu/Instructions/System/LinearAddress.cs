namespace Vessel.Cpu;

/// <summary>Rules of 48-bit linear addresses.</summary>
internal static class LinearAddress
{
    /// <summary>Whether <paramref name="address"/> is canonical: bits 63:47 all equal.</summary>
    public static bool IsCanonical(ulong address) => (ulong)(((long)address << 16) >> 16) == address;
}
