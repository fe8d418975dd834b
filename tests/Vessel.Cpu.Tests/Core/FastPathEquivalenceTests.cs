using Iced.Intel;
using Vessel.Hypervisor;
using RflagsBits = Vessel.Hypervisor.RflagsBits;
using Xunit.Abstractions;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Core;

/// <summary>The pre-digested fast forms must do exactly what the general interpreter does: random 32-bit programs of
/// loads, stores, ALU (register and memory), LEA, MOVZX, shifts, INC/DEC, branches, small loops and flag consumers
/// run three times over on the plain interpreter, with fast forms, and with the native tier on at a threshold of one
/// run (which leaves 32-bit blocks to the fast forms: the IL tier that compiled them was retired); registers, flags
/// and memory are compared. A printed seed reproduces a failure.</summary>
public class FastPathEquivalenceTests(ITestOutputHelper output)
{
    private const uint CodeAt = 0x1000, DataAt = 0x20000, DataBytes = 0x1000;
    private static readonly AssemblerRegister32[] Destinations = [eax, ecx, edx, edi, ebp];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void RandomProgramsAgreeWithAndWithoutFastPaths(int seedGroup)
    {
        int baseSeed = Environment.GetEnvironmentVariable("VESSEL_FASTPATH_SEED") is { } s ? int.Parse(s) : seedGroup * 1000;
        for (int i = 0; i < 50; i++)
        {
            int seed = baseSeed + i;
            var random = new Random(seed);
            byte[] code = TinyGuest.Assemble(32, CodeAt, a => EmitProgram(a, random, 60));
            byte[] data = new byte[DataBytes];
            random.NextBytes(data);
            var initial = new uint[8];
            for (int r = 0; r < 8; r++) initial[r] = Edge(random);
            ulong flags = (ulong)random.Next() & (RflagsBits.Cf | RflagsBits.Pf | RflagsBits.Af | RflagsBits.Zf | RflagsBits.Sf | RflagsBits.Of);

            var slow = RunOnce(new EmuOptions { FastPaths = false }, code, data, initial, flags);
            foreach (var options in new[] { new EmuOptions { JitThreshold = 0 }, new EmuOptions { JitThreshold = 1, Tier = EmuTier.Native } })
            {
                var fast = RunOnce(options, code, data, initial, flags);
                if (fast != slow) output.WriteLine($"seed {seed} (VESSEL_FASTPATH_SEED={seed}) disagrees with {options}");
                Assert.Equal(slow.Registers, fast.Registers);
                Assert.Equal(slow.Flags, fast.Flags);
                Assert.Equal(slow.Memory, fast.Memory);
            }
        }
    }

    private sealed record Outcome(string Registers, ulong Flags, string Memory);

    private static Outcome RunOnce(EmuOptions options, byte[] code, byte[] data, uint[] initial, ulong flags)
    {
        using var hypervisor = new EmuHypervisor(options);
        using var vm = hypervisor.CreateVirtualMachine();
        using var ram = new GuestMemoryRegion(1 << 20);
        vm.SetMemoryRegion(0, 0, ram);
        using var vcpu = vm.CreateVcpu(0);
        vm.Memory.Write(CodeAt, code);
        vm.Memory.Write(DataAt, data);
        var sregs = FlatSegments.ProtectedMode32();
        vcpu.SetSpecialRegisters(sregs);
        vcpu.SetRegisters(new Registers
        {
            Rax = initial[0], Rcx = initial[1], Rdx = initial[2], Rdi = initial[3], Rbp = initial[4],
            Rbx = DataAt, Rsi = initial[6] & 0xFF, Rsp = 0x80000, Rip = CodeAt, Rflags = 2 | flags,
        });
        VcpuExit exit = vcpu.Run();
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        Registers r = vcpu.GetRegisters();
        var memory = new byte[DataBytes];
        vm.Memory.Read(DataAt, memory);
        return new Outcome($"{r.Rax:x} {r.Rbx:x} {r.Rcx:x} {r.Rdx:x} {r.Rsi:x} {r.Rdi:x} {r.Rbp:x} {r.Rsp:x} {r.Rip:x}",
            r.Rflags & 0x8D5, Convert.ToHexString(memory));
    }

    private static uint Edge(Random random) => random.Next(6) switch
    {
        0 => 0, 1 => 1, 2 => uint.MaxValue, 3 => 0x8000_0000, 4 => 0x7FFF_FFFF, _ => (uint)random.NextInt64(),
    };

    private static AssemblerMemoryOperand Memory(Random random, int size)
    {
        int disp = random.Next((int)DataBytes - 0x400 - 8);
        return random.Next(3) switch
        {
            0 => ebx + disp,
            1 => ebx + esi * 2 + disp,
            _ => ebx + esi * 1 + disp,
        };
    }

    private const int RepeatCounter = 0xFF0;

    /// <summary>The random body, run three times (a counter in the data page) so compiled blocks run too.</summary>
    private static void EmitProgram(Assembler a, Random random, int length)
    {
        var top = a.CreateLabel();
        a.mov(__dword_ptr[ebx + RepeatCounter], 3);
        a.Label(ref top);
        EmitBody(a, random, length);
        a.dec(__dword_ptr[ebx + RepeatCounter]);
        a.jnz(top);
        a.hlt();
    }

    private static void EmitBody(Assembler a, Random random, int length)
    {
        for (int i = 0; i < length; i++)
        {
            var d = Destinations[random.Next(Destinations.Length)];
            var s = Destinations[random.Next(Destinations.Length)];
            uint imm = Edge(random);
            switch (random.Next(17))
            {
                case 0: a.mov(d, __dword_ptr[Memory(random, 4)]); break;
                case 1: a.mov(__dword_ptr[Memory(random, 4)], s); break;
                case 2: a.mov(__dword_ptr[Memory(random, 4)], imm); break;
                case 3: Alu(a, random.Next(8), d, __dword_ptr[Memory(random, 4)]); break;
                case 4: Alu(a, random.Next(8), __dword_ptr[Memory(random, 4)], s); break;
                case 5: Alu(a, random.Next(8), __dword_ptr[Memory(random, 4)], imm); break;
                case 6: a.lea(d, __[Memory(random, 4)]); break;
                case 7: if (random.Next(2) == 0) a.movzx(d, __byte_ptr[Memory(random, 1)]); else a.movzx(d, __word_ptr[Memory(random, 2)]); break;
                case 8: Alu(a, random.Next(8), d, s); break;
                case 9: Alu(a, random.Next(8), d, imm); break;
                case 10: if (random.Next(2) == 0) a.inc(d); else a.dec(d); break;
                case 11:
                {
                    byte count = (byte)random.Next(1, 32);
                    switch (random.Next(3)) { case 0: a.shl(d, count); break; case 1: a.shr(d, count); break; default: a.sar(d, count); break; }
                    if (random.Next(2) == 0)
                    {
                        // Capture every flag (AF is undefined after a shift: masked).
                        a.pushfd();
                        a.pop(s);
                        a.and(s, ~0x10);
                    }
                    else if (random.Next(2) == 0)
                    {
                        var skip = a.CreateLabel();
                        JccTo(a, random.Next(16), skip);
                        a.add(s, 1);
                        a.Label(ref skip);
                    }
                    break;
                }
                case 12: a.mov(d, s); break;
                case 13: a.mov(d, imm); break;
                case 14:
                {
                    var skip = a.CreateLabel();
                    JccTo(a, random.Next(16), skip);
                    a.add(d, 1);
                    if (random.Next(2) == 0) a.shl(s, (byte)random.Next(1, 32));
                    a.Label(ref skip);
                    break;
                }
                case 15:
                {
                    // A small counted loop: a self-looping block once compiled.
                    var loop = a.CreateLabel();
                    var counter = Destinations[random.Next(Destinations.Length)];
                    var other = Destinations.Where(r => r != counter).ToArray();
                    a.mov(counter, (uint)random.Next(1, 6));
                    a.Label(ref loop);
                    for (int k = random.Next(1, 4); k > 0; k--)
                        Alu(a, random.Next(8), other[random.Next(other.Length)], other[random.Next(other.Length)]);
                    if (random.Next(2) == 0) a.shr(other[random.Next(other.Length)], 1);
                    a.dec(counter);
                    a.jnz(loop);
                    break;
                }
                default:
                    switch (random.Next(4))
                    {
                        case 0: a.setb(al); break;
                        case 1: a.seto(cl); break;
                        case 2: a.setp(dl); break;
                        default: a.test(__dword_ptr[Memory(random, 4)], s); break;
                    }
                    break;
            }
        }
    }

    private static void Alu(Assembler a, int op, AssemblerRegister32 d, AssemblerMemoryOperand m)
    {
        switch (op)
        {
            case 0: a.add(d, m); break; case 1: a.or(d, m); break; case 2: a.adc(d, m); break; case 3: a.sbb(d, m); break;
            case 4: a.and(d, m); break; case 5: a.sub(d, m); break; case 6: a.xor(d, m); break; default: a.cmp(d, m); break;
        }
    }

    private static void Alu(Assembler a, int op, AssemblerMemoryOperand m, AssemblerRegister32 s)
    {
        switch (op)
        {
            case 0: a.add(m, s); break; case 1: a.or(m, s); break; case 2: a.adc(m, s); break; case 3: a.sbb(m, s); break;
            case 4: a.and(m, s); break; case 5: a.sub(m, s); break; case 6: a.xor(m, s); break; default: a.cmp(m, s); break;
        }
    }

    private static void Alu(Assembler a, int op, AssemblerMemoryOperand m, uint imm)
    {
        int i = (int)imm;
        switch (op)
        {
            case 0: a.add(m, i); break; case 1: a.or(m, i); break; case 2: a.adc(m, i); break; case 3: a.sbb(m, i); break;
            case 4: a.and(m, i); break; case 5: a.sub(m, i); break; case 6: a.xor(m, i); break; default: a.cmp(m, i); break;
        }
    }

    private static void Alu(Assembler a, int op, AssemblerRegister32 d, AssemblerRegister32 s)
    {
        switch (op)
        {
            case 0: a.add(d, s); break; case 1: a.or(d, s); break; case 2: a.adc(d, s); break; case 3: a.sbb(d, s); break;
            case 4: a.and(d, s); break; case 5: a.sub(d, s); break; case 6: a.xor(d, s); break; default: a.cmp(d, s); break;
        }
    }

    private static void Alu(Assembler a, int op, AssemblerRegister32 d, uint imm)
    {
        int i = (int)imm;
        switch (op)
        {
            case 0: a.add(d, i); break; case 1: a.or(d, i); break; case 2: a.adc(d, i); break; case 3: a.sbb(d, i); break;
            case 4: a.and(d, i); break; case 5: a.sub(d, i); break; case 6: a.xor(d, i); break; default: a.cmp(d, i); break;
        }
    }

    private static void JccTo(Assembler a, int cc, Label target)
    {
        switch (cc)
        {
            case 0: a.jo(target); break; case 1: a.jno(target); break; case 2: a.jb(target); break; case 3: a.jae(target); break;
            case 4: a.je(target); break; case 5: a.jne(target); break; case 6: a.jbe(target); break; case 7: a.ja(target); break;
            case 8: a.js(target); break; case 9: a.jns(target); break; case 10: a.jp(target); break; case 11: a.jnp(target); break;
            case 12: a.jl(target); break; case 13: a.jge(target); break; case 14: a.jle(target); break; default: a.jg(target); break;
        }
    }
}
