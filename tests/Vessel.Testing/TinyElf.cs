using Iced.Intel;
using Vessel.Hypervisor;

namespace Vessel.Testing;

/// <summary>Tiny ELF kernels assembled with Iced: one PT_LOAD segment at 1 MiB that prints a text on COM1 and
/// ends through isa-debug-exit. ELF32 runs in 32-bit protected mode, ELF64 in 64-bit long mode.</summary>
public static class TinyElf
{
    private const ulong LoadAddress = PcLayout.OneMiB;

    public static byte[] PrintThenExit(int bitness, string text, byte exitValue)
    {
        var a = new Assembler(bitness);
        GuestCode.EmitPrintThenExit(a, text, exitValue);
        return FromAssembler(a);
    }

    /// <summary>An ELF kernel of the code in <paramref name="a"/>, assembled at the load address and entered at its start.</summary>
    public static byte[] FromAssembler(Assembler a) =>
        new ElfBuilder(a.Bitness == 64) { Entry = LoadAddress }.Add(LoadAddress, GuestCode.Assemble(a, LoadAddress)).Build();
}
