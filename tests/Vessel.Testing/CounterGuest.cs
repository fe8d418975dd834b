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
