namespace Vessel.Devices;

/// <summary>Helpers shared by port devices for the value an unclaimed or malformed access sees.</summary>
internal static class PortAccess
{
    /// <summary>All ones for the access width: what a read of nothing returns on an ISA bus.</summary>
    public static uint AllOnes(int size) => size switch
    {
        1 => 0xFF,
        2 => 0xFFFF,
        _ => 0xFFFF_FFFF,
    };

    /// <summary>The bits of <paramref name="value"/> an access of <paramref name="size"/> bytes carries.</summary>
    public static uint Truncate(uint value, int size) => size switch
    {
        1 => value & 0xFF,
        2 => value & 0xFFFF,
        _ => value,
    };
}
