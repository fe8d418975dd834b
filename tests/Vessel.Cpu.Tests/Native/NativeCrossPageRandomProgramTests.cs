using Iced.Intel;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>Random loops of integer instructions of every length, placed so that they run across page ends (a
/// different instruction straddling each time), split into blocks by jumps and branches that chain: the native
/// tier and the interpreter must leave the same registers, memory and instruction count.</summary>
public class NativeCrossPageRandomProgramTests
{
    private const ulong Data = 0x100000;
    private const int DataBytes = 0x1000;
    private const ulong CodePage = 0x50000;

    private static readonly AssemblerRegister64[] Pool = [rax, rdx, rdi, rbp, rsi, r8, r9, r10, r11, r12];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Random_loops_across_page_ends_agree_with_the_interpreter(int seedGroup)
    {
        for (int seed = seedGroup * 100; seed < seedGroup * 100 + 12; seed++)
        {
            Outcome interpreted = Run(NativeTierTests.InterpreterOptions, seed);
            Outcome native = Run(NativeTierTests.NativeOptions, seed);
            Assert.True(interpreted.Registers.Equals(native.Registers), $"seed {seed}: registers disagree");
            Assert.True(interpreted.Memory == native.Memory, $"seed {seed}: memory disagrees");
            Assert.Equal(interpreted.Retired, native.Retired);
            Assert.True(native.Translations >= 2, $"seed {seed}: {native.Translations} translations");
        }
    }

    private sealed record Outcome(Registers Registers, string Memory, ulong Retired, long Translations);

    private static Outcome Run(EmuOptions options, int seed)
    {
        var random = new Random(seed);
        using var g = new PagedGuest(options);
        var data = new byte[DataBytes];
        random.NextBytes(data);
        g.Guest.Memory.Write(Data, data);
        // The loop starts up to 600 bytes before a page end, so its body (a few hundred bytes) runs across it.
        ulong top = CodePage + 0x1000 - (ulong)random.Next(1, 600);
        g.Guest.Load(top, 64, a => EmitLoop(a, random));
        ulong[] start = [.. Pool.Select(_ => (ulong)random.NextInt64())];
        VcpuExit exit = g.Run(a =>
        {
            a.mov(rbx, Data);
            a.mov(ecx, 200);
            for (int i = 0; i < Pool.Length; i++) a.mov(Pool[i], start[i]);
            a.mov(r13, top);
            a.jmp(r13);
        });
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        var memory = new byte[DataBytes];
        g.Guest.Memory.Read(Data, memory);
        X86Cpu cpu = g.Guest.Cpu;
        return new Outcome(g.Guest.Guest.Vcpu.GetRegisters(), Convert.ToHexString(memory), (ulong)cpu.State.InstructionsRetired,
            cpu.NativeTranslations);
    }

    private static void EmitLoop(Assembler a, Random random)
    {
        var top = a.CreateLabel();
        a.Label(ref top);
        int count = random.Next(40, 90);
        for (int i = 0; i < count; i++)
        {
            switch (random.Next(8))
            {
                case 0:
                    {
                        // A JMP to the next instruction: ends the block, a chain slot (or the jump cache across the page end).
                        var next = a.CreateLabel();
                        a.jmp(next);
                        a.Label(ref next);
                        break;
                    }
                case 1:
                    {
                        // A branch over one instruction: taken, it ends the block.
                        var over = a.CreateLabel();
                        a.test(Pick(random), random.Next(1, 0x100));
                        a.jnz(over);
                        EmitOne(a, random);
                        a.Label(ref over);
                        break;
                    }
                default:
                    EmitOne(a, random);
                    break;
            }
        }
        a.dec(ecx);
        a.jnz(top);
        a.hlt();
    }

    private static AssemblerRegister64 Pick(Random random) => Pool[random.Next(Pool.Length)];

    /// <summary>One instruction of 2 to 10 bytes, with or without a memory operand in the data page.</summary>
    private static void EmitOne(Assembler a, Random random)
    {
        AssemblerRegister64 d = Pick(random), s = Pick(random);
        int disp = random.Next(DataBytes / 8) * 8;
        switch (random.Next(12))
        {
            case 0: a.mov(d, (ulong)random.NextInt64()); break; // 10 bytes
            case 1: a.add(d, random.Next(int.MinValue, int.MaxValue)); break;
            case 2: a.xor(d, s); break;
            case 3: a.lea(d, __[s + d * 4 + random.Next(-0x10000, 0x10000)]); break;
            case 4: a.imul(d, s, random.Next(3, 0x7FFF)); break;
            case 5: a.rol(d, (byte)random.Next(1, 63)); break;
            case 6: a.add(__qword_ptr[rbx + disp], d); break;
            case 7: a.mov(d, __qword_ptr[rbx + disp]); break;
            case 8: a.sub(d.ToRegister32(), random.Next()); break;
            case 9: a.cmovb(d, s); break;
            case 10: a.mov(__dword_ptr[rbx + disp + 4], random.Next()); break;
            default: a.adc(d, s); break;
        }
    }
}

file static class RegisterWidth
{
    private static readonly Dictionary<Register, AssemblerRegister32> Low = new()
    {
        [Register.RAX] = eax, [Register.RDX] = edx, [Register.RDI] = edi, [Register.RBP] = ebp, [Register.RSI] = esi,
        [Register.R8] = r8d, [Register.R9] = r9d, [Register.R10] = r10d, [Register.R11] = r11d, [Register.R12] = r12d,
    };

    public static AssemblerRegister32 ToRegister32(this AssemblerRegister64 r) => Low[r.Value];
}
