using System.Buffers.Binary;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cli.Tests;

/// <summary>Tiny ELF kernels assembled with Iced: one PT_LOAD segment at 1 MiB that prints a text on COM1 and
/// ends through isa-debug-exit. ELF32 runs in 32-bit protected mode, ELF64 in 64-bit long mode.</summary>
internal static class TinyElf
{
    private const ulong LoadAddress = 0x100000;

    public static byte[] PrintThenExit(int bitness, string text, byte exitValue)
    {
        var a = new Assembler(bitness);
        a.mov(dx, (ushort)0x3f8);
        foreach (char c in text)
        {
            a.mov(al, (byte)c);
            a.@out(dx, al);
        }
        a.mov(dx, (ushort)0xf4);
        a.mov(al, exitValue);
        a.@out(dx, al);
        var halt = a.CreateLabel();
        a.Label(ref halt);
        a.hlt();
        a.jmp(halt);
        return FromAssembler(a);
    }

    /// <summary>An ELF kernel of the code in <paramref name="a"/>, assembled at the load address and entered at its start.</summary>
    public static byte[] FromAssembler(Assembler a)
    {
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), LoadAddress);
        return Build(a.Bitness == 64, ms.ToArray());
    }

    private static byte[] Build(bool is64, byte[] code)
    {
        int header = is64 ? 64 : 52, phdr = is64 ? 56 : 32;
        var file = new byte[header + phdr + code.Length];
        var f = file.AsSpan();
        "\u007fELF"u8.CopyTo(f);
        f[4] = (byte)(is64 ? 2 : 1); f[5] = 1; f[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(f[16..], 2);                       // ET_EXEC
        BinaryPrimitives.WriteUInt16LittleEndian(f[18..], (ushort)(is64 ? 62 : 3)); // x86-64 / i386
        BinaryPrimitives.WriteUInt32LittleEndian(f[20..], 1);
        var ph = f[header..];
        BinaryPrimitives.WriteUInt32LittleEndian(ph, 1); // PT_LOAD
        if (is64)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(f[24..], LoadAddress);
            BinaryPrimitives.WriteUInt64LittleEndian(f[32..], (ulong)header);
            BinaryPrimitives.WriteUInt16LittleEndian(f[52..], (ushort)header);
            BinaryPrimitives.WriteUInt16LittleEndian(f[54..], (ushort)phdr);
            BinaryPrimitives.WriteUInt16LittleEndian(f[56..], 1);
            BinaryPrimitives.WriteUInt64LittleEndian(ph[8..], (ulong)(header + phdr));
            BinaryPrimitives.WriteUInt64LittleEndian(ph[16..], LoadAddress);
            BinaryPrimitives.WriteUInt64LittleEndian(ph[24..], LoadAddress);
            BinaryPrimitives.WriteUInt64LittleEndian(ph[32..], (ulong)code.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(ph[40..], (ulong)code.Length);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(f[24..], (uint)LoadAddress);
            BinaryPrimitives.WriteUInt32LittleEndian(f[28..], (uint)header);
            BinaryPrimitives.WriteUInt16LittleEndian(f[40..], (ushort)header);
            BinaryPrimitives.WriteUInt16LittleEndian(f[42..], (ushort)phdr);
            BinaryPrimitives.WriteUInt16LittleEndian(f[44..], 1);
            BinaryPrimitives.WriteUInt32LittleEndian(ph[4..], (uint)(header + phdr));
            BinaryPrimitives.WriteUInt32LittleEndian(ph[8..], (uint)LoadAddress);
            BinaryPrimitives.WriteUInt32LittleEndian(ph[12..], (uint)LoadAddress);
            BinaryPrimitives.WriteUInt32LittleEndian(ph[16..], (uint)code.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(ph[20..], (uint)code.Length);
        }
        code.CopyTo(file, header + phdr);
        return file;
    }
}
