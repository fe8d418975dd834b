using Iced.Intel;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cli.Tests.Pty;

/// <summary>Tiny guests for the console tests, assembled with Iced.</summary>
internal static class ConsoleGuests
{
    public const string Ready = "ready>";

    /// <summary>32-bit ELF: prints <see cref="Ready"/>, then polls COM1 and reports every byte it receives as
    /// "&lt;hh&gt;" (hex). 'R' resets through the i8042 (exit status 0), 'E' ends with isa-debug-exit 2 (status 5),
    /// 'T' triple-faults.</summary>
    public static byte[] ByteReporter()
    {
        var a = new Assembler(32);
        var loop = a.CreateLabel();
        var hexDigit = a.CreateLabel();
        var notReset = a.CreateLabel();
        var notExit = a.CreateLabel();
        var notTriple = a.CreateLabel();
        Print(a, Ready);
        a.Label(ref loop);
        a.mov(dx, (ushort)0x3fd);
        a.@in(al, dx);
        a.test(al, 1);
        a.jz(loop);
        a.mov(dx, (ushort)0x3f8);
        a.@in(al, dx);
        a.cmp(al, (byte)'R');
        a.jne(notReset);
        a.mov(al, 0xfe);
        a.@out(0x64, al);
        a.Label(ref notReset);
        a.cmp(al, (byte)'E');
        a.jne(notExit);
        a.mov(dx, (ushort)0xf4);
        a.mov(al, 2);
        a.@out(dx, al);
        a.Label(ref notExit);
        a.cmp(al, (byte)'T');
        a.jne(notTriple);
        a.lidt(__[0x0]);                 // an IDT of limit 0 at 0...
        a.@int(3);                        // ...so the breakpoint faults, the fault double-faults, then triple
        a.Label(ref notTriple);
        a.mov(bl, al);
        a.mov(dx, (ushort)0x3f8);
        a.mov(al, (byte)'<');
        a.@out(dx, al);
        a.mov(al, bl);
        a.shr(al, 4);
        a.call(hexDigit);
        a.mov(al, bl);
        a.and(al, 0x0f);
        a.call(hexDigit);
        a.mov(al, (byte)'>');
        a.@out(dx, al);
        a.jmp(loop);
        // hexDigit: al = 0..15 -> prints '0'..'f'
        var decimalDigit = a.CreateLabel();
        a.Label(ref hexDigit);
        a.cmp(al, 10);
        a.jb(decimalDigit);
        a.add(al, (byte)('a' - 10 - '0'));
        a.Label(ref decimalDigit);
        a.add(al, (byte)'0');
        a.@out(dx, al);
        a.ret();
        return TinyElf.FromAssembler(a);
    }

    /// <summary>32-bit ELF: prints <see cref="Ready"/>, then lines of 'x' for ever, never reading COM1.</summary>
    public static byte[] Flood()
    {
        var a = new Assembler(32);
        Print(a, Ready);
        var line = a.CreateLabel();
        var column = a.CreateLabel();
        a.Label(ref line);
        a.mov(ecx, 78);
        a.Label(ref column);
        a.mov(al, (byte)'x');
        a.@out(dx, al);
        a.dec(ecx);
        a.jnz(column);
        a.mov(al, (byte)'\r');
        a.@out(dx, al);
        a.mov(al, (byte)'\n');
        a.@out(dx, al);
        a.jmp(line);
        return TinyElf.FromAssembler(a);
    }

    /// <summary>Boot sector: prints <see cref="Ready"/>, then sleeps in hlt with interrupts on (the firmware's
    /// 18.2 Hz timer wakes it), never reading COM1.</summary>
    public static byte[] Idle()
    {
        var a = new Assembler(16);
        var sleep = a.CreateLabel();
        Print(a, Ready);
        a.sti();
        a.Label(ref sleep);
        a.hlt();
        a.jmp(sleep);
        return BootSectors.Sector(GuestCode.Assemble(a, PcLayout.BootSectorAddress));
    }

    private static void Print(Assembler a, string text)
    {
        a.mov(dx, (ushort)0x3f8);
        foreach (char c in text)
        {
            a.mov(al, (byte)c);
            a.@out(dx, al);
        }
    }
}
