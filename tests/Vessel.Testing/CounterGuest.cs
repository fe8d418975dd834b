using Iced.Intel;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Testing;

/// <summary>Tiny multiboot guests for tests that pass a command line (the API always does), assembled with Iced.</summary>
public static class CounterGuest
{
    /// <summary>32-bit ELF: prints the digits 0123456789 in a cycle on COM1, one per line, with a busy wait between
    /// lines, for ever. Output in order with none missing is the sequence <see cref="IsCounting"/> accepts.</summary>
    public static byte[] Counter(int delayIterations = 200_000)
    {
        var a = MultibootAssembler();
        var line = a.CreateLabel();
        var wait = a.CreateLabel();
        var noWrap = a.CreateLabel();
        a.xor(ebx, ebx);
        a.mov(dx, PcLayout.Com1Port);
        a.Label(ref line);
        a.mov(al, bl);
        a.add(al, (byte)'0');
        a.@out(dx, al);
        a.mov(al, (byte)'\n');
        a.@out(dx, al);
        a.inc(ebx);
        a.cmp(ebx, 10);
        a.jne(noWrap);
        a.xor(ebx, ebx);
        a.Label(ref noWrap);
        a.mov(ecx, delayIterations);
        a.Label(ref wait);
        a.dec(ecx);
        a.jnz(wait);
        a.jmp(line);
        return TinyElf.FromAssembler(a);
    }

    /// <summary>Whether <paramref name="output"/> is "0\n1\n...9\n0\n..." from the start (a final partial line allowed).</summary>
    public static bool IsCounting(string output, out int lines)
    {
        lines = 0;
        for (int i = 0; i + 1 < output.Length; i += 2)
        {
            if (output[i] != (char)('0' + lines % 10) || output[i + 1] != '\n') return false;
            lines++;
        }
        return true;
    }

    /// <summary>32-bit ELF booted as multiboot: prints <paramref name="text"/> on COM1 and exits with
    /// <paramref name="exitValue"/> through isa-debug-exit.</summary>
    public static byte[] PrintThenExit(string text, byte exitValue)
    {
        var a = MultibootAssembler();
        GuestCode.EmitPrintThenExit(a, text, exitValue);
        return TinyElf.FromAssembler(a);
    }

    /// <summary>Prints "ready\n", then polls the i8042 (port 0x64's output-full bit) and prints every byte it reads
    /// from port 0x60 as two hex digits and a space; after Ctrl's release code (set 1: 9d) it exits with 0x21.</summary>
    public static byte[] ScancodeReader()
    {
        var a = MultibootAssembler();
        a.mov(dx, (ushort)0x3f8);
        foreach (char c in "ready\n")
        {
            a.mov(al, (byte)c);
            a.@out(dx, al);
        }
        var poll = a.CreateLabel();
        a.Label(ref poll);
        a.@in(al, (byte)0x64);
        a.test(al, 1);
        a.jz(poll);
        a.@in(al, (byte)0x60);
        a.mov(bl, al);
        a.shr(al, 4);
        EmitHexDigit(a);
        a.mov(al, bl);
        a.and(al, 0x0f);
        EmitHexDigit(a);
        a.mov(al, (byte)' ');
        a.@out(dx, al);
        a.cmp(bl, 0x9d);
        a.jne(poll);
        a.mov(al, (byte)0x21);
        a.@out((byte)0xf4, al);
        var halt = a.CreateLabel();
        a.Label(ref halt);
        a.hlt();
        a.jmp(halt);
        return TinyElf.FromAssembler(a);
    }

    /// <summary>Writes <paramref name="outs"/> bytes to the POST port (0x80), then spins for ever without exits
    /// (a halt with interrupts off would end the VM).</summary>
    public static byte[] OutsThenSpin(int outs)
    {
        var a = MultibootAssembler();
        var loop = a.CreateLabel();
        a.mov(ecx, outs);
        a.Label(ref loop);
        a.mov(al, cl);
        a.@out((byte)0x80, al);
        a.dec(ecx);
        a.jnz(loop);
        var spin = a.CreateLabel();
        a.Label(ref spin);
        a.jmp(spin);
        return TinyElf.FromAssembler(a);
    }

    /// <summary>Where <see cref="TickClock"/> keeps its IDT (256 gates), IDTR, tick counter and stack: 32 MiB, free RAM in
    /// the API tests' 64 MiB guests.</summary>
    private const uint TickClockData = 0x0200_0000, TickClockIdtr = TickClockData + 0x800, TickClockTicks = TickClockData + 0x810;

    /// <summary>A timer-driven counter beside the CMOS clock: the 8254 PIT's channel 0 at 100 Hz raises IRQ 0 through
    /// the 8259 (vector 0x20, reaching the CPU through the local APIC's LINT0 in ExtINT mode); the handler counts
    /// ticks, and every 100 ticks the guest prints the RTC's minutes and seconds as "MM:SS\n" (BCD). So one line per
    /// second of timer ticks, each stamped with the guest's wall-clock time.</summary>
    public static byte[] TickClock()
    {
        var a = MultibootAssembler();
        var here = a.CreateLabel();
        var setup = a.CreateLabel();
        var main = a.CreateLabel();
        var tick = a.CreateLabel();
        a.cli();
        a.mov(esp, TickClockData + 0x1000); // multiboot leaves esp undefined; the call and the interrupts need a stack
        // The handler's address without an absolute label (32-bit Iced has none): the call pushes `here`, a one-byte
        // pop and a two-byte short jump over the handler's entry (a jump to `tick`) follow it: the entry is at here + 3.
        a.call(here);
        a.Label(ref here);
        a.pop(eax);
        a.jmp(setup);
        a.jmp(tick);
        a.Label(ref setup);
        a.add(eax, 3);
        // Gate 0x20: a 32-bit interrupt gate to the handler, in the code segment the loader left us in.
        a.mov(ebx, eax);
        a.and(eax, 0xFFFF);
        a.xor(ecx, ecx);
        a.mov(cx, cs);
        a.shl(ecx, 16);
        a.or(eax, ecx);
        a.mov(__dword_ptr[TickClockData + 0x20 * 8], eax);
        a.and(ebx, unchecked((int)0xFFFF_0000));
        a.or(ebx, 0x8E00);
        a.mov(__dword_ptr[TickClockData + 0x20 * 8 + 4], ebx);
        a.mov(__word_ptr[TickClockIdtr], 0x7FF);
        a.mov(__dword_ptr[TickClockIdtr + 2], TickClockData);
        a.lidt(__[TickClockIdtr]);
        // The 8259 pair: vectors 0x20 and 0x28, only IRQ 0 unmasked.
        foreach (var (port, value) in new (byte, byte)[] { (0x20, 0x11), (0xA0, 0x11), (0x21, 0x20), (0xA1, 0x28), (0x21, 4), (0xA1, 2), (0x21, 1), (0xA1, 1), (0x21, 0xFE), (0xA1, 0xFF) })
        {
            a.mov(al, value);
            a.@out(port, al);
        }
        // The local APIC: software-enabled, LINT0 unmasked in ExtINT mode (the PIC's INTR reaches the CPU).
        a.mov(__dword_ptr[(uint)PcLayout.LocalApicBase + 0xF0], 0x1FF);
        a.mov(__dword_ptr[(uint)PcLayout.LocalApicBase + 0x350], 0x700);
        // PIT channel 0, mode 2 (rate generator), divisor 11932: 100 Hz.
        a.mov(al, 0x34);
        a.@out(0x43, al);
        a.mov(al, 11932 & 0xFF);
        a.@out(0x40, al);
        a.mov(al, 11932 >> 8);
        a.@out(0x40, al);
        a.mov(__dword_ptr[TickClockTicks], 0);
        a.xor(esi, esi); // the tick count of the last line printed
        a.mov(dx, PcLayout.Com1Port);
        // Interrupts are taken only in the sti/hlt pair, and the handler never returns (no iretd, which KVM's
        // instruction emulator cannot do in protected mode): it drops the interrupt frame and loops back here.
        a.Label(ref main);
        a.mov(esp, TickClockData + 0x1000);
        a.sti();
        a.hlt();
        a.jmp(main);
        a.Label(ref tick);
        a.inc(__dword_ptr[TickClockTicks]);
        a.mov(al, 0x20);
        a.@out(0x20, al); // end of interrupt
        a.mov(eax, __dword_ptr[TickClockTicks]);
        a.sub(eax, esi);
        a.cmp(eax, 100);
        a.jb(main);
        a.add(esi, 100);
        EmitCmosBcd(a, 0x02);
        a.mov(al, (byte)':');
        a.@out(dx, al);
        EmitCmosBcd(a, 0x00);
        a.mov(al, (byte)'\n');
        a.@out(dx, al);
        a.jmp(main);
        return TinyElf.FromAssembler(a);
    }

    /// <summary>Prints CMOS register <paramref name="register"/> (a BCD time field) as two digits to the port in dx.</summary>
    private static void EmitCmosBcd(Assembler a, byte register)
    {
        a.mov(al, register);
        a.@out(0x70, al);
        a.@in(al, 0x71);
        a.mov(bl, al);
        a.shr(al, 4);
        EmitHexDigit(a);
        a.mov(al, bl);
        a.and(al, 0x0f);
        EmitHexDigit(a);
    }

    /// <summary>Writes the nibble in al as a lower-case hex digit to the port in dx.</summary>
    private static void EmitHexDigit(Assembler a)
    {
        var digit = a.CreateLabel();
        a.add(al, (byte)'0');
        a.cmp(al, (byte)'9');
        a.jbe(digit);
        a.add(al, (byte)('a' - '9' - 1));
        a.Label(ref digit);
        a.@out(dx, al);
    }

    /// <summary>A 32-bit assembler whose code starts with a multiboot v1 header (jumped over), so the ELF it becomes
    /// is booted as multiboot and takes the command line the API always passes (plain ELF32 refuses one).
    /// The code sits 84 bytes into the file, so after the 2-byte jump and 2 bytes of padding the header is 4-aligned.</summary>
    private static Assembler MultibootAssembler()
    {
        var a = new Assembler(32);
        var start = a.CreateLabel();
        a.jmp(start);
        a.nop();
        a.nop();
        const uint magic = 0x1BADB002, flags = 0;
        a.dd(magic, flags, unchecked(0u - magic - flags));
        a.Label(ref start);
        return a;
    }
}
