using Iced.Intel;
using Vessel.Hypervisor;
using Xunit.Abstractions;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Core;

/// <summary>The 64-bit side of <see cref="FastPathEquivalenceTests"/>: compiled 64-bit blocks do loads, stores,
/// ALU with memory, PUSH/POP, CALL/RET inline when the TLB maps the page, and fall back to the interpreter
/// otherwise (first touch, a page-crossing access, MMIO). Random long-mode programs of those forms, narrow
/// stores, FS-relative accesses, CMOV, IMUL and NOT run on the plain interpreter, with fast forms, and with
/// every block compiled after its first run; registers, flags, memory and the MMIO exits must agree.</summary>
public class FastPathEquivalence64Tests(ITestOutputHelper output)
{
    private const ulong CodeAt = 0x10000, FunctionAt = 0x18000, DataAt = 0x1FF000, DataBytes = 0x2000;
    private const ulong Pml4At = 0x70000, StackTop = 0x90000, FsBase = DataAt + 0x800, MmioAt = 0x600000;
    private const int RamBytes = 4 << 20; // identity-mapped up to 8 MiB: 6 MiB is MMIO
    private static readonly AssemblerRegister64[] Destinations = [rax, rcx, rdx, rdi, rbp, r8, r9, r10, r11];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void RandomLongModeProgramsAgreeWithAndWithoutFastPathsAndCompiledBlocks(int seedGroup)
    {
        int baseSeed = Environment.GetEnvironmentVariable("VESSEL_FASTPATH_SEED") is { } s ? int.Parse(s) : seedGroup * 1000;
        for (int i = 0; i < 40; i++)
        {
            int seed = baseSeed + i;
            var random = new Random(seed);
            byte[] code = TinyGuest.Assemble(64, CodeAt, a => EmitProgram(a, random, 60));
            byte[] function = TinyGuest.Assemble(64, FunctionAt, a =>
            {
                a.add(rax, __qword_ptr[rbx + 8]);
                a.mov(__dword_ptr[rbx + 16], ecx);
                a.ret();
            });
            byte[] data = new byte[DataBytes];
            random.NextBytes(data);
            var initial = new ulong[16];
            for (int r = 0; r < 16; r++) initial[r] = Edge(random);
            ulong flags = (ulong)random.Next() & 0x8D5;

            var slow = RunOnce(new EmuOptions { FastPaths = false }, code, function, data, initial, flags);
            foreach (var options in new[] { new EmuOptions { JitThreshold = 0 }, new EmuOptions { JitThreshold = 1, Tier = EmuTier.Native } })
            {
                var fast = RunOnce(options, code, function, data, initial, flags);
                if (fast != slow) output.WriteLine($"seed {seed} (VESSEL_FASTPATH_SEED={seed}) disagrees with {options}");
                Assert.Equal(slow.Registers, fast.Registers);
                Assert.Equal(slow.Flags, fast.Flags);
                Assert.Equal(slow.Memory, fast.Memory);
                Assert.Equal(slow.Mmio, fast.Mmio);
            }
        }
    }

    private sealed record Outcome(string Registers, ulong Flags, string Memory, string Mmio);

    private static Outcome RunOnce(EmuOptions options, byte[] code, byte[] function, byte[] data, ulong[] initial, ulong flags)
    {
        using var hypervisor = new EmuHypervisor(options);
        using var vm = hypervisor.CreateVirtualMachine();
        using var ram = new GuestMemoryRegion(RamBytes);
        vm.SetMemoryRegion(0, 0, ram);
        using var vcpu = vm.CreateVcpu(0);
        // PML4 -> PDPT -> PD of four 2 MiB identity pages.
        vm.Memory.WriteUInt64(Pml4At, (Pml4At + 0x1000) | 3);
        vm.Memory.WriteUInt64(Pml4At + 0x1000, (Pml4At + 0x2000) | 3);
        for (ulong p = 0; p < 4; p++) vm.Memory.WriteUInt64(Pml4At + 0x2000 + p * 8, (p << 21) | 0x83);
        vm.Memory.Write(CodeAt, code);
        vm.Memory.Write(FunctionAt, function);
        vm.Memory.Write(DataAt, data);
        var sregs = SpecialRegisters.RealMode();
        sregs.Cs = Segment.Flat(0x08, code: true, longMode: true);
        sregs.Ds = sregs.Es = sregs.Ss = sregs.Fs = sregs.Gs = Segment.Flat(0x10, code: false);
        sregs.Fs.Base = FsBase;
        sregs.Cr0 = ControlRegisters.Cr0Pe | ControlRegisters.Cr0Pg | ControlRegisters.Cr0Et | ControlRegisters.Cr0Wp;
        sregs.Cr4 = ControlRegisters.Cr4Pae;
        sregs.Cr3 = Pml4At;
        sregs.Efer = ControlRegisters.EferLme | ControlRegisters.EferLma | ControlRegisters.EferNxe;
        vcpu.SetSpecialRegisters(sregs);
        vcpu.SetRegisters(new Registers
        {
            Rax = initial[0], Rcx = initial[1], Rdx = initial[2], Rdi = initial[3], Rbp = initial[4],
            R8 = initial[8], R9 = initial[9], R10 = initial[10], R11 = initial[11],
            Rbx = DataAt, Rsi = initial[6] & 0xFF, R12 = MmioAt, Rsp = StackTop, Rip = CodeAt, Rflags = 2 | flags,
        });
        var mmio = new global::System.Text.StringBuilder();
        for (int exits = 0; ; exits++)
        {
            Assert.True(exits < 10_000, "guest did not halt");
            VcpuExit exit = vcpu.Run();
            if (exit.Reason == VcpuExitReason.MmioRead)
            {
                mmio.Append($"r{exit.Address:x}/{exit.Size} ");
                vcpu.CompleteRead(0x0123_4567_89AB_CDEFUL + exit.Address);
                continue;
            }
            if (exit.Reason == VcpuExitReason.MmioWrite)
            {
                mmio.Append($"w{exit.Address:x}/{exit.Size}={exit.Data:x} ");
                continue;
            }
            Assert.Equal(VcpuExitReason.Halt, exit.Reason);
            break;
        }
        Registers r = vcpu.GetRegisters();
        var memory = new byte[DataBytes + 0x100];
        vm.Memory.Read(DataAt, memory.AsSpan(0, (int)DataBytes));
        vm.Memory.Read(StackTop - 0x100, memory.AsSpan((int)DataBytes, 0x100));
        return new Outcome(
            $"{r.Rax:x} {r.Rbx:x} {r.Rcx:x} {r.Rdx:x} {r.Rsi:x} {r.Rdi:x} {r.Rbp:x} {r.Rsp:x} {r.R8:x} {r.R9:x} {r.R10:x} {r.R11:x} {r.R12:x} {r.Rip:x}",
            r.Rflags & 0x8D5, Convert.ToHexString(memory), mmio.ToString());
    }

    private static ulong Edge(Random random) => random.Next(7) switch
    {
        0 => 0, 1 => 1, 2 => ulong.MaxValue, 3 => 0x8000_0000, 4 => 0x7FFF_FFFF, 5 => 0x8000_0000_0000_0000,
        _ => (ulong)random.NextInt64(),
    };

    /// <summary>A data operand: mostly well inside the data pages, sometimes straddling the boundary between
    /// the two 4 KiB halves (a TLB entry each) or FS-relative.</summary>
    private static Mem Memory(Random random)
    {
        int disp = random.Next(8) == 0 ? 0x1000 - random.Next(1, 8) : random.Next((int)DataBytes - 0x800 - 16);
        return random.Next(6) switch
        {
            0 => new(rbx + disp, false),
            1 => new(rbx + rsi * 2 + disp, false),
            2 => new(rbx + rsi * 4 + disp, false),
            3 => new(rsi + random.Next(0x400), true),
            _ => new(rbx + rsi + disp, false),
        };
    }

    /// <summary>A memory operand, FS-relative or not, given its size by a factory (__qword_ptr and the like).</summary>
    private readonly record struct Mem(AssemblerMemoryOperand Operand, bool Fs)
    {
        public AssemblerMemoryOperand As(AssemblerMemoryOperandFactory size) => Fs ? size.fs[Operand] : size[Operand];
    }

    private const int RepeatCounter = 0x1F00;

    private static void EmitProgram(Assembler a, Random random, int length)
    {
        var top = a.CreateLabel();
        a.mov(__dword_ptr[rbx + RepeatCounter], 3);
        a.Label(ref top);
        EmitBody(a, random, length);
        a.dec(__dword_ptr[rbx + RepeatCounter]);
        a.jnz(top);
        a.hlt();
    }

    private static AssemblerRegister32 Low32(AssemblerRegister64 r) => new(r.Value.GetFullRegister32());

    private static void EmitBody(Assembler a, Random random, int length)
    {
        for (int i = 0; i < length; i++)
        {
            var d = Destinations[random.Next(Destinations.Length)];
            var s = Destinations[random.Next(Destinations.Length)];
            ulong imm = Edge(random);
            int imm32 = (int)imm;
            bool wide = random.Next(2) == 0;
            switch (random.Next(22))
            {
                case 0: if (wide) a.mov(d, Memory(random).As(__qword_ptr)); else a.mov(Low32(d), Memory(random).As(__dword_ptr)); break;
                case 1: if (wide) a.mov(Memory(random).As(__qword_ptr), s); else a.mov(Memory(random).As(__dword_ptr), Low32(s)); break;
                case 2:
                    switch (random.Next(4))
                    {
                        case 0: a.mov(Memory(random).As(__byte_ptr), (byte)imm); break;
                        case 1: a.mov(Memory(random).As(__word_ptr), (ushort)imm); break;
                        case 2: a.mov(Memory(random).As(__dword_ptr), imm32); break;
                        default: a.mov(Memory(random).As(__qword_ptr), imm32); break;
                    }
                    break;
                case 3:
                    switch (random.Next(6))
                    {
                        case 5: a.mov(Memory(random).As(__word_ptr), ds); break; // a segment register, not AX
                        case 0: a.mov(Memory(random).As(__byte_ptr), cl); break;
                        case 1: a.mov(Memory(random).As(__byte_ptr), r9b); break;
                        case 2: a.mov(Memory(random).As(__byte_ptr), ah); break;
                        case 3: a.mov(Memory(random).As(__word_ptr), dx); break;
                        default: a.mov(Memory(random).As(__word_ptr), r10w); break;
                    }
                    break;
                case 4: AluRegMem(a, random.Next(8), d, wide, Memory(random)); break;
                case 5: AluMem(a, random.Next(9), Memory(random), wide, s, null); break;
                case 6: AluMem(a, random.Next(9), Memory(random), wide, null, imm32); break;
                case 7: if (wide) a.lea(d, Memory(random).As(__)); else a.lea(Low32(d), Memory(random).As(__)); break;
                case 8:
                    switch (random.Next(10))
                    {
                        case 0: a.movzx(Low32(d), Memory(random).As(__byte_ptr)); break;
                        case 1: a.movzx(Low32(d), Memory(random).As(__word_ptr)); break;
                        case 2: a.movsxd(d, Memory(random).As(__dword_ptr)); break;
                        case 3: a.movsx(d, Memory(random).As(__byte_ptr)); break;
                        case 4: a.movsx(Low32(d), Memory(random).As(__word_ptr)); break;
                        case 5: a.movzx(Low32(d), cl); break;
                        case 6: a.movsx(d, r9w); break;
                        case 7: a.movsxd(d, Low32(s)); break;
                        case 8: a.movzx(edx, ah); break; // AH: stays with the interpreter
                        default: a.nop(); a.nop(__dword_ptr[rax + 0x12345678]); break;
                    }
                    break;
                case 9:
                    switch (random.Next(4))
                    {
                        case 0: a.add(d, s); break;
                        case 1: a.sub(Low32(d), Low32(s)); break;
                        case 2: a.cmp(d, imm32); break;
                        default: a.xor(Low32(d), imm32); break;
                    }
                    break;
                case 10: if (random.Next(2) == 0) a.inc(d); else a.dec(Low32(d)); break;
                case 11:
                {
                    byte count = (byte)random.Next(1, 32);
                    if (random.Next(2) == 0) a.shl(d, count); else a.shr(Low32(d), count);
                    break;
                }
                case 12: Cmov(a, random.Next(16), d, s, wide); break;
                case 13:
                    switch (random.Next(4))
                    {
                        case 0: a.imul(d, s); break;
                        case 1: a.imul(Low32(d), Low32(s)); break;
                        case 2: a.imul(d, s, imm32); break;
                        default: a.imul(Low32(d), Low32(s), (sbyte)imm); break;
                    }
                    break;
                case 14: if (wide) a.not(d); else a.not(Low32(d)); break;
                case 15: a.push(s); a.pop(d); break;
                case 16: a.call(FunctionAt); break;
                case 17:
                {
                    var skip = a.CreateLabel();
                    JccTo(a, random.Next(16), skip);
                    a.add(d, 1);
                    a.Label(ref skip);
                    break;
                }
                case 18:
                    // Capture every flag (AF is undefined after some producers but the emulator is deterministic).
                    a.pushfq();
                    a.pop(d);
                    break;
                case 19:
                    if (random.Next(2) == 0) a.mov(d, __qword_ptr[r12 + random.Next(64)]);
                    else a.mov(__dword_ptr[r12 + random.Next(64)], Low32(s));
                    break;
                case 20:
                {
                    var loop = a.CreateLabel();
                    var counter = Destinations[random.Next(Destinations.Length)];
                    var other = Destinations.Where(r => r != counter).ToArray();
                    a.mov(Low32(counter), random.Next(1, 6));
                    a.Label(ref loop);
                    a.mov(other[random.Next(other.Length)], __qword_ptr[rbx + random.Next(0x100) * 8]);
                    a.add(__qword_ptr[rbx + random.Next(0x100) * 8], other[random.Next(other.Length)]);
                    a.dec(counter);
                    a.jnz(loop);
                    break;
                }
                default:
                    a.cmp(Memory(random).As(__qword_ptr), s);
                    var after = a.CreateLabel();
                    JccTo(a, random.Next(16), after);
                    a.not(s);
                    a.Label(ref after);
                    break;
            }
        }
    }

    private static void AluRegMem(Assembler a, int op, AssemblerRegister64 d, bool wide, Mem m)
    {
        if (wide)
        {
            var q = m.As(__qword_ptr);
            switch (op)
            {
                case 0: a.add(d, q); break; case 1: a.or(d, q); break; case 2: a.adc(d, q); break; case 3: a.sbb(d, q); break;
                case 4: a.and(d, q); break; case 5: a.sub(d, q); break; case 6: a.xor(d, q); break; default: a.cmp(d, q); break;
            }
            return;
        }
        var r = Low32(d);
        var dw = m.As(__dword_ptr);
        switch (op)
        {
            case 0: a.add(r, dw); break; case 1: a.or(r, dw); break; case 2: a.adc(r, dw); break; case 3: a.sbb(r, dw); break;
            case 4: a.and(r, dw); break; case 5: a.sub(r, dw); break; case 6: a.xor(r, dw); break; default: a.cmp(r, dw); break;
        }
    }

    private static void AluMem(Assembler a, int op, Mem m, bool wide, AssemblerRegister64? s, int? imm)
    {
        if (wide)
        {
            var q = m.As(__qword_ptr);
            if (s is { } r)
            {
                switch (op)
                {
                    case 0: a.add(q, r); break; case 1: a.or(q, r); break; case 2: a.adc(q, r); break; case 3: a.sbb(q, r); break;
                    case 4: a.and(q, r); break; case 5: a.sub(q, r); break; case 6: a.xor(q, r); break; case 7: a.cmp(q, r); break;
                    default: a.test(q, r); break;
                }
            }
            else
            {
                int i = imm!.Value;
                switch (op)
                {
                    case 0: a.add(q, i); break; case 1: a.or(q, i); break; case 2: a.adc(q, i); break; case 3: a.sbb(q, i); break;
                    case 4: a.and(q, i); break; case 5: a.sub(q, i); break; case 6: a.xor(q, i); break; case 7: a.cmp(q, i); break;
                    default: a.test(q, i); break;
                }
            }
            return;
        }
        var dw = m.As(__dword_ptr);
        if (s is { } r64)
        {
            var r = Low32(r64);
            switch (op)
            {
                case 0: a.add(dw, r); break; case 1: a.or(dw, r); break; case 2: a.adc(dw, r); break; case 3: a.sbb(dw, r); break;
                case 4: a.and(dw, r); break; case 5: a.sub(dw, r); break; case 6: a.xor(dw, r); break; case 7: a.cmp(dw, r); break;
                default: a.test(dw, r); break;
            }
        }
        else
        {
            int i = imm!.Value;
            switch (op)
            {
                case 0: a.add(dw, i); break; case 1: a.or(dw, i); break; case 2: a.adc(dw, i); break; case 3: a.sbb(dw, i); break;
                case 4: a.and(dw, i); break; case 5: a.sub(dw, i); break; case 6: a.xor(dw, i); break; case 7: a.cmp(dw, i); break;
                default: a.test(dw, i); break;
            }
        }
    }

    private static void Cmov(Assembler a, int cc, AssemblerRegister64 d, AssemblerRegister64 s, bool wide)
    {
        if (!wide)
        {
            AssemblerRegister32 d32 = Low32(d), s32 = Low32(s);
            switch (cc % 4)
            {
                case 0: a.cmove(d32, s32); break; case 1: a.cmovb(d32, s32); break;
                case 2: a.cmovl(d32, s32); break; default: a.cmova(d32, s32); break;
            }
            return;
        }
        switch (cc)
        {
            case 0: a.cmovo(d, s); break; case 1: a.cmovno(d, s); break; case 2: a.cmovb(d, s); break; case 3: a.cmovae(d, s); break;
            case 4: a.cmove(d, s); break; case 5: a.cmovne(d, s); break; case 6: a.cmovbe(d, s); break; case 7: a.cmova(d, s); break;
            case 8: a.cmovs(d, s); break; case 9: a.cmovns(d, s); break; case 10: a.cmovp(d, s); break; case 11: a.cmovnp(d, s); break;
            case 12: a.cmovl(d, s); break; case 13: a.cmovge(d, s); break; case 14: a.cmovle(d, s); break; default: a.cmovg(d, s); break;
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
