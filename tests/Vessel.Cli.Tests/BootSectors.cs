namespace Vessel.Cli.Tests;

/// <summary>Tiny real-mode guests as 512-byte boot sectors (Vessel.Boot runs them at 0000:7C00).</summary>
public static class BootSectors
{
    /// <summary>Prints "hi" on COM1, writes 1 to isa-debug-exit (status 3), then halts.</summary>
    public static byte[] HiThenExit3() => Sector(
    [
        0xBA, 0xF8, 0x03,   // mov dx, 0x3f8
        0xB0, (byte)'h',    // mov al, 'h'
        0xEE,               // out dx, al
        0xB0, (byte)'i',    // mov al, 'i'
        0xEE,               // out dx, al
        0xBA, 0xF4, 0x00,   // mov dx, 0xf4
        0xB0, 0x01,         // mov al, 1
        0xEE,               // out dx, al
        0xF4,               // hlt
        0xEB, 0xFD,         // jmp hlt
    ]);

    public static byte[] Sector(byte[] code)
    {
        var sector = new byte[512];
        code.CopyTo(sector, 0);
        sector[510] = 0x55;
        sector[511] = 0xAA;
        return sector;
    }
}
