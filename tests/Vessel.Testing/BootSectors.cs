namespace Vessel.Testing;

/// <summary>Tiny real-mode guests as 512-byte boot sectors (Vessel.Boot runs them at 0000:7C00).</summary>
public static class BootSectors
{
    /// <summary>Prints "hi" on COM1, writes 1 to isa-debug-exit (status 3), then halts.</summary>
    public static byte[] HiThenExit3() => Sector(
    [
        0xBA, 0xF8, 0x03,   // mov dx, 0x3f8 (COM1)
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

    /// <summary>Points IVT[08h] at its own handler, halts with interrupts on, and once woken prints "T" and exits
    /// with status 3 if that handler ran (the firmware's timer on IRQ 0 at vector 08h), else status 5.</summary>
    public static byte[] TimerWakesHalt() => Sector(
    [
        0xFA,                               // cli
        0x31, 0xC0,                         // xor ax, ax
        0x8E, 0xD8,                         // mov ds, ax
        0xC7, 0x06, 0x20, 0x00, 0x2F, 0x7C, // mov word [0x20], handler (0x7c2f)
        0xC7, 0x06, 0x22, 0x00, 0x00, 0x00, // mov word [0x22], 0
        0xFB,                               // sti
        0xF4,                               // hlt
        0xFA,                               // cli
        0x80, 0x3E, 0x3B, 0x7C, 0x01,       // cmp byte [flag], 1
        0x75, 0x0D,                         // jne fail
        0xBA, 0xF8, 0x03,                   // mov dx, 0x3f8
        0xB0, (byte)'T',                    // mov al, 'T'
        0xEE,                               // out dx, al
        0xBA, 0xF4, 0x00,                   // mov dx, 0xf4
        0xB0, 0x01,                         // mov al, 1
        0xEE,                               // out dx, al
        0xF4,                               // hlt
        0xBA, 0xF4, 0x00,                   // fail: mov dx, 0xf4
        0xB0, 0x02,                         // mov al, 2
        0xEE,                               // out dx, al
        0xF4,                               // hlt
        0xC6, 0x06, 0x3B, 0x7C, 0x01,       // handler: mov byte [flag], 1
        0x50,                               // push ax
        0xB0, 0x20,                         // mov al, 0x20
        0xE6, 0x20,                         // out 0x20, al (EOI)
        0x58,                               // pop ax
        0xCF,                               // iret
        0x00,                               // flag
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
