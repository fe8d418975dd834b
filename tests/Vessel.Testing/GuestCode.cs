using Iced.Intel;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Testing;

/// <summary>Guest code assembled with Iced, and the snippets many tiny guests share.</summary>
public static class GuestCode
{
    /// <summary>The bytes of <paramref name="a"/>'s code placed at <paramref name="address"/>.</summary>
    public static byte[] Assemble(Assembler a, ulong address)
    {
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), address);
        return ms.ToArray();
    }

    /// <summary>The bytes of the code <paramref name="build"/> emits for <paramref name="bitness"/>-bit mode at
    /// <paramref name="address"/>.</summary>
    public static byte[] Assemble(int bitness, ulong address, Action<Assembler> build)
    {
        var a = new Assembler(bitness);
        build(a);
        return Assemble(a, address);
    }

    /// <summary>Prints <paramref name="text"/> on COM1, writes <paramref name="exitValue"/> to isa-debug-exit (the VM
    /// ends with status exitValue*2+1), and halts for ever should it go on.</summary>
    public static void EmitPrintThenExit(Assembler a, string text, byte exitValue)
    {
        a.mov(dx, PcLayout.Com1Port);
        foreach (char c in text)
        {
            a.mov(al, (byte)c);
            a.@out(dx, al);
        }
        a.mov(dx, PcLayout.DebugExitPort);
        a.mov(al, exitValue);
        a.@out(dx, al);
        var halt = a.CreateLabel();
        a.Label(ref halt);
        a.hlt();
        a.jmp(halt);
    }
}
