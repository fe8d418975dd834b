using Iced.Intel;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using Xunit.Abstractions;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>The forms the native tier re-encodes for the host (byte and word ALU with AH-BH and REX byte registers,
/// shifts and rotates of every size by immediate, 1 and CL, SETcc, NEG/NOT/INC/DEC of registers and memory, BSWAP,
/// narrow MOV/MOVZX/MOVSX) in random long-mode programs, run by the interpreter and by the native tier: registers,
/// every arithmetic flag (also those the architecture leaves undefined: the interpreter defines them and the native
/// tier must agree), the flags captured after each form, memory and the instruction count must agree.</summary>
public class NativeRehostedFormsTests(ITestOutputHelper output)
{
    private const ulong Data = 0x100000;
    private const int DataBytes = 0x3000, FlagLog = 0x2800, Counter = 0x2F00;

    private static readonly HashSet<Mnemonic> Mnemonics =
    [
        Mnemonic.Add, Mnemonic.Adc, Mnemonic.Sub, Mnemonic.Sbb, Mnemonic.And, Mnemonic.Or, Mnemonic.Xor, Mnemonic.Cmp,
        Mnemonic.Test, Mnemonic.Inc, Mnemonic.Dec, Mnemonic.Neg, Mnemonic.Not, Mnemonic.Shl, Mnemonic.Sal, Mnemonic.Shr,
        Mnemonic.Sar, Mnemonic.Rol, Mnemonic.Ror, Mnemonic.Bswap, Mnemonic.Mov, Mnemonic.Movzx, Mnemonic.Movsx,
        Mnemonic.Seto, Mnemonic.Setno, Mnemonic.Setb, Mnemonic.Setae, Mnemonic.Sete, Mnemonic.Setne, Mnemonic.Setbe,
        Mnemonic.Seta, Mnemonic.Sets, Mnemonic.Setns, Mnemonic.Setp, Mnemonic.Setnp, Mnemonic.Setl, Mnemonic.Setge,
        Mnemonic.Setle, Mnemonic.Setg, Mnemonic.Imul, Mnemonic.Clc, Mnemonic.Stc, Mnemonic.Cmc,
    ];

    /// <summary>Every legacy 64-bit encoding of those mnemonics whose operands are registers, r/m, immediates or the
    /// implicit AL/AX/EAX/RAX/CL/1.</summary>
    private static readonly Code[] Forms = FormsOf(Mnemonics, c => !(c.Mnemonic() == Mnemonic.Imul && c.ToOpCode().OpCount == 1)); // RDX:RAX: not here

    /// <summary>Every legacy 64-bit encoding of <paramref name="mnemonics"/> that <paramref name="wanted"/> takes and
    /// whose operands the generator fills.</summary>
    internal static Code[] FormsOf(HashSet<Mnemonic> mnemonics, Func<Code, bool> wanted) => Enum.GetValues<Code>().Where(c =>
    {
        if (c == Code.INVALID || !mnemonics.Contains(c.Mnemonic()) || !wanted(c)) return false;
        OpCodeInfo info = c.ToOpCode();
        if (!info.IsInstruction || !info.Mode64 || info.Encoding != EncodingKind.Legacy) return false;
        for (int i = 0; i < info.OpCount; i++)
            if (OperandSize(info.GetOpKind(i)) == 0) return false;
        return true;
    }).ToArray();

    // Never RBX (the data base), RSI (the index), RSP, R13 (the flag log) or R14/R15.
    private static readonly Register[] LegacyBase = [Register.RAX, Register.RCX, Register.RDX, Register.RBP, Register.RDI];
    private static readonly Register[] RexBase = [Register.RAX, Register.RCX, Register.RDX, Register.RBP, Register.RDI, Register.R8, Register.R9, Register.R10, Register.R12];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Random_programs_of_rehosted_forms_agree_with_the_interpreter(int seedGroup)
    {
        int baseSeed = Environment.GetEnvironmentVariable("VESSEL_REHOST_SEED") is { } s ? int.Parse(s) : seedGroup * 1000;
        for (int i = 0; i < 25; i++) AssertRandomProgramAgrees(Forms, baseSeed + i, output);
    }

    /// <summary>The random program of <paramref name="forms"/> from <paramref name="seed"/>, run by the interpreter
    /// and by the native tier: registers, memory (with the flag log) and the instruction count must agree.</summary>
    internal static void AssertRandomProgramAgrees(Code[] forms, int seed, ITestOutputHelper output)
    {
        var interpreted = Run(NativeTierTests.InterpreterOptions, seed, forms);
        var native = Run(NativeTierTests.NativeOptions, seed, forms);
        if (interpreted != native with { Steps = interpreted.Steps, Translations = interpreted.Translations })
            output.WriteLine($"seed {seed} (VESSEL_REHOST_SEED={seed}) disagrees");
        Assert.Equal(interpreted.Registers, native.Registers);
        Assert.Equal(interpreted.Memory, native.Memory);
        Assert.Equal(interpreted.Retired, native.Retired);
        Assert.True(native.Translations >= 1, $"seed {seed}: nothing translated");
    }

    [Fact]
    public void A_loop_of_narrow_forms_runs_translated_without_handing_them_back()
    {
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            var constant = a.CreateLabel();
            a.mov(rbx, Data);
            a.mov(ecx, 300);
            a.Label(ref top);
            a.cmp(__byte_ptr[rbx + 8], 0x41);    // Cmp_rm8_imm8
            a.setb(dl);                            // Setb_rm8
            a.cmp(al, 7);                          // Cmp_AL_imm8
            a.test(__byte_ptr[rbx + 9], ah);       // Test_rm8_r8
            a.shr(__word_ptr[rbx + 16], 3);        // Shr_rm16_imm8
            a.ror(r8d, 13);                        // Ror_rm32_imm8
            a.rol(__dword_ptr[rbx + 24], 7);       // Rol_rm32_imm8
            a.shl(r9, cl);                         // Shl_rm64_CL
            a.shr(r10d, cl);                       // Shr_rm32_CL
            a.neg(edi);
            a.bswap(ebp);
            a.movzx(eax, dh);
            a.inc(__dword_ptr[rbx + 32]);
            a.add(ah, dl);
            a.sub(__word_ptr[rbx + 40], 0x1234);
            a.prefetcht0(__byte_ptr[rbx + 0x5000_0000]); // a hint: no access, no fault
            a.add(r12w, __word_ptr[constant]);     // RIP-relative
            a.cmp(__byte_ptr[constant], 0xA5);
            a.pushfq();
            a.pop(r11);
            a.mov(__qword_ptr[rbx + 48], r11);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
            a.Label(ref constant);
            a.dw(0x5AA5);
        }
        using var interpreterGuest = new PagedGuest(NativeTierTests.InterpreterOptions);
        using var nativeGuest = new PagedGuest(NativeTierTests.NativeOptions);
        Assert.Equal(VcpuExitReason.Halt, interpreterGuest.Run(Program).Reason);
        Assert.Equal(VcpuExitReason.Halt, nativeGuest.Run(Program).Reason);

        Assert.Equal(interpreterGuest.Guest.Guest.Vcpu.GetRegisters(), nativeGuest.Guest.Guest.Vcpu.GetRegisters());
        Assert.Equal(ReadData(interpreterGuest), ReadData(nativeGuest));
        Assert.Equal((ulong)(300 * 0x5AA5 & 0xFFFF), nativeGuest.Guest.Guest.Vcpu.GetRegisters().R12 & 0xFFFF);
        X86Cpu cpu = nativeGuest.Guest.Cpu;
        Assert.True(cpu.NativeEntries >= 2, $"{cpu.NativeEntries} entries into translated code");
        // Only the first touches of the data page (TLB misses) go to the interpreter.
        Assert.True(cpu.NativeSteps < 20, $"{cpu.NativeSteps} instructions handed back");
    }

    [Fact]
    public void Unsigned_divisions_run_translated_and_leave_what_the_interpreter_leaves()
    {
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(rbx, Data);
            a.mov(__qword_ptr[rbx + 0x100], 0x5678_DEF1); // a 64-bit divisor above EDX (3) and a 32-bit one
            a.mov(r9, 0xFEDC_BA98_7654_3211UL);
            a.mov(esi, 200);
            a.Label(ref top);
            a.stc();                                   // DIV leaves the flags: CF must survive it
            a.lea(rax, __[rsi + rsi * 8 + 0x3F1F_2D3B]);
            a.mov(edx, esi);                           // high half below every divisor
            a.div(r9);
            a.mov(r10, rax);
            a.mov(r11, rdx);
            a.mov(eax, esi);
            a.shl(eax, 20);
            a.mov(edx, 3);
            a.div(__dword_ptr[rbx + 0x100]);
            a.adc(r12, rdx);
            a.add(r13, rax);
            a.mov(rdx, 0);
            a.mov(rax, r10);
            a.div(__qword_ptr[rbx + 0x100]);
            a.adc(r14, rdx);
            a.dec(esi);
            a.jnz(top);
            a.hlt();
        }
        using var interpreterGuest = new PagedGuest(NativeTierTests.InterpreterOptions);
        using var nativeGuest = new PagedGuest(NativeTierTests.NativeOptions);
        Assert.Equal(VcpuExitReason.Halt, interpreterGuest.Run(Program).Reason);
        Assert.Equal(VcpuExitReason.Halt, nativeGuest.Run(Program).Reason);

        Assert.Equal(interpreterGuest.Guest.Guest.Vcpu.GetRegisters(), nativeGuest.Guest.Guest.Vcpu.GetRegisters());
        X86Cpu cpu = nativeGuest.Guest.Cpu;
        Assert.True(cpu.NativeSteps < 10, $"{cpu.NativeSteps} instructions handed back");
        Assert.NotEqual(0UL, nativeGuest.Guest.Guest.Vcpu.GetRegisters().R12);
    }

    [Fact]
    public void A_page_fault_on_a_narrow_memory_form_stops_at_that_instruction_with_earlier_effects_kept()
    {
        // Each round shifts a word and compares a byte a page further on; the page after five is not present. The
        // forms before the faulting CMP in the block (ROL, SETcc) must have run, the ones after it not.
        const ulong NotPresent = Data + 5 * 4096;
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(rsi, Data);
            a.Label(ref top);
            a.rol(r8d, 5);
            a.setc(__byte_ptr[rsi + 0x10]);
            a.shr(__word_ptr[rsi + 0x20], 1);
            a.cmp(__byte_ptr[rsi + 0x4000], 0x41);
            a.inc(r9b);
            a.add(rsi, 4096);
            a.jmp(top);
        }
        using var interpreterGuest = new PagedGuest(NativeTierTests.InterpreterOptions);
        using var nativeGuest = new PagedGuest(NativeTierTests.NativeOptions);
        foreach (PagedGuest g in new[] { interpreterGuest, nativeGuest })
        {
            g.SetPte(NotPresent, 0);
            g.Guest.WriteU64(Data, 0x7777);
            Assert.Equal(VcpuExitReason.Halt, g.Run(a => { a.mov(r8d, 0x8000_0001); Program(a); }).Reason);
        }

        Assert.Equal(interpreterGuest.Guest.Guest.Vcpu.GetRegisters(), nativeGuest.Guest.Guest.Vcpu.GetRegisters());
        Assert.Equal(ReadData(interpreterGuest), ReadData(nativeGuest));
        Assert.Equal(14UL, nativeGuest.Guest.ReadU64(PagedGuest.FaultVector));
        Assert.Equal(NotPresent, nativeGuest.Guest.ReadU64(PagedGuest.FaultAddress));
        Assert.Equal(1UL, nativeGuest.Guest.Guest.Vcpu.GetRegisters().R9 & 0xFF); // only the first round's INC ran
        Assert.True(nativeGuest.Guest.Cpu.NativeEntries >= 1, "nothing ran translated");
    }

    private sealed record Outcome(Registers Registers, string Memory, ulong Retired, long Steps, long Translations);

    private static string ReadData(PagedGuest g)
    {
        var memory = new byte[DataBytes];
        g.Guest.Memory.Read(Data, memory);
        return Convert.ToHexString(memory);
    }

    private static Outcome Run(EmuOptions options, int seed, Code[] forms)
    {
        var random = new Random(seed);
        var data = new byte[DataBytes];
        random.NextBytes(data);
        using var g = new PagedGuest(options);
        g.Guest.Memory.Write(Data, data);
        VcpuExit exit = g.Run(a => EmitProgram(a, random, forms));
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        X86Cpu cpu = g.Guest.Cpu;
        return new Outcome(g.Guest.Guest.Vcpu.GetRegisters(), ReadData(g), (ulong)cpu.State.InstructionsRetired,
            cpu.NativeSteps, cpu.NativeTranslations);
    }

    private static void EmitProgram(Assembler a, Random random, Code[] forms)
    {
        a.mov(rbx, Data);
        a.mov(esi, random.Next(0x100));
        foreach (Register r in RexBase) a.AddInstruction(Instruction.Create(Code.Mov_r64_imm64, r, Edge(random)));
        a.push(random.Next() & 0x8D5);
        a.popfq();
        a.mov(__dword_ptr[rbx + Counter], 3);
        var top = a.CreateLabel();
        a.Label(ref top);
        for (int i = 0; i < 50; i++)
        {
            a.AddInstruction(RandomForm(random, forms));
            if (random.Next(3) == 0)
            {
                // Capture every flag, the undefined ones too, into the log.
                a.pushfq();
                a.pop(r13);
                a.mov(__qword_ptr[rbx + FlagLog + (i % 64) * 8], r13);
            }
        }
        a.dec(__dword_ptr[rbx + Counter]);
        a.jnz(top);
        a.hlt();
    }

    private static Instruction RandomForm(Random random, Code[] forms)
    {
        Code code = forms[random.Next(forms.Length)];
        OpCodeInfo info = code.ToOpCode();
        // AH-BH: no REX anywhere in the instruction, so no 64-bit operand either.
        bool high = random.Next(3) == 0 && Enumerable.Range(0, info.OpCount).All(i => OperandSize(info.GetOpKind(i)) != 8);
        Register[] pool = high ? LegacyBase : RexBase;
        var instruction = new Instruction { Code = code };
        for (int i = 0; i < info.OpCount; i++)
        {
            OpCodeOperandKind kind = info.GetOpKind(i);
            int size = OperandSize(kind);
            bool memory = kind is OpCodeOperandKind.r8_or_mem or OpCodeOperandKind.r16_or_mem or OpCodeOperandKind.r32_or_mem
                or OpCodeOperandKind.r64_or_mem && random.Next(2) == 0;
            switch (kind)
            {
                case OpCodeOperandKind.al or OpCodeOperandKind.ax or OpCodeOperandKind.eax or OpCodeOperandKind.rax:
                    SetRegister(ref instruction, i, Sized(Register.RAX, size, false));
                    break;
                case OpCodeOperandKind.cl:
                    SetRegister(ref instruction, i, Register.CL);
                    break;
                case OpCodeOperandKind.imm8_const_1:
                    instruction.SetOpKind(i, OpKind.Immediate8);
                    instruction.Immediate8 = 1;
                    break;
                case OpCodeOperandKind.imm8 or OpCodeOperandKind.imm16 or OpCodeOperandKind.imm32 or OpCodeOperandKind.imm8sex16
                    or OpCodeOperandKind.imm8sex32 or OpCodeOperandKind.imm8sex64 or OpCodeOperandKind.imm32sex64:
                    SetImmediate(ref instruction, i, kind, code.Mnemonic(), random);
                    break;
                default:
                    if (memory) SetMemory(ref instruction, i, random);
                    else
                    {
                        // With AH-BH about, a byte register is one of AL-DL or AH-DH (SIL, DIL and the rest need REX).
                        Register full = high && size == 1 ? pool[random.Next(3)] : pool[random.Next(pool.Length)];
                        SetRegister(ref instruction, i, Sized(full, size, high && random.Next(2) == 0));
                    }
                    break;
            }
        }
        return instruction;
    }

    private static void SetRegister(ref Instruction instruction, int operand, Register r)
    {
        instruction.SetOpKind(operand, OpKind.Register);
        instruction.SetOpRegister(operand, r);
    }

    /// <summary>[RBX + disp] or [RBX + RSI*2 + disp] inside the data, sometimes across its first page boundary.</summary>
    private static void SetMemory(ref Instruction instruction, int operand, Random random)
    {
        instruction.SetOpKind(operand, OpKind.Memory);
        instruction.MemoryBase = Register.RBX;
        if (random.Next(2) == 0)
        {
            instruction.MemoryIndex = Register.RSI;
            instruction.MemoryIndexScale = 2;
        }
        int displacement = random.Next(8) == 0 ? 0x1000 - random.Next(1, 8) : random.Next(0x1C00);
        instruction.MemoryDisplacement64 = (ulong)displacement;
        instruction.MemoryDisplSize = 8;
    }

    private static void SetImmediate(ref Instruction instruction, int operand, OpCodeOperandKind kind, Mnemonic m, Random random)
    {
        bool shift = m is Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar or Mnemonic.Rol or Mnemonic.Ror;
        ulong value = (ulong)random.NextInt64();
        switch (kind)
        {
            case OpCodeOperandKind.imm8:
                instruction.SetOpKind(operand, OpKind.Immediate8);
                // Shift counts: mostly inside the width, sometimes 0, past the width or past the mask.
                instruction.Immediate8 = shift ? (byte)(random.Next(4) == 0 ? random.Next(256) : random.Next(1, 16)) : (byte)value;
                break;
            case OpCodeOperandKind.imm16:
                instruction.SetOpKind(operand, OpKind.Immediate16);
                instruction.Immediate16 = (ushort)value;
                break;
            case OpCodeOperandKind.imm32:
                instruction.SetOpKind(operand, OpKind.Immediate32);
                instruction.Immediate32 = (uint)value;
                break;
            case OpCodeOperandKind.imm8sex16:
                instruction.SetOpKind(operand, OpKind.Immediate8to16);
                instruction.Immediate8to16 = (sbyte)value;
                break;
            case OpCodeOperandKind.imm8sex32:
                instruction.SetOpKind(operand, OpKind.Immediate8to32);
                instruction.Immediate8to32 = (sbyte)value;
                break;
            case OpCodeOperandKind.imm8sex64:
                instruction.SetOpKind(operand, OpKind.Immediate8to64);
                instruction.Immediate8to64 = (sbyte)value;
                break;
            default:
                instruction.SetOpKind(operand, OpKind.Immediate32to64);
                instruction.Immediate32to64 = (int)value;
                break;
        }
    }

    /// <summary>The operand's size in bytes for the kinds the generator fills (immediates: 1), 0 for any other.</summary>
    private static int OperandSize(OpCodeOperandKind kind) => kind switch
    {
        OpCodeOperandKind.r8_or_mem or OpCodeOperandKind.r8_reg or OpCodeOperandKind.r8_opcode or OpCodeOperandKind.al
            or OpCodeOperandKind.cl => 1,
        OpCodeOperandKind.r16_or_mem or OpCodeOperandKind.r16_reg or OpCodeOperandKind.r16_opcode or OpCodeOperandKind.ax => 2,
        OpCodeOperandKind.r32_or_mem or OpCodeOperandKind.r32_reg or OpCodeOperandKind.r32_opcode or OpCodeOperandKind.eax => 4,
        OpCodeOperandKind.r64_or_mem or OpCodeOperandKind.r64_reg or OpCodeOperandKind.r64_opcode or OpCodeOperandKind.rax => 8,
        OpCodeOperandKind.imm8 or OpCodeOperandKind.imm16 or OpCodeOperandKind.imm32 or OpCodeOperandKind.imm8sex16
            or OpCodeOperandKind.imm8sex32 or OpCodeOperandKind.imm8sex64 or OpCodeOperandKind.imm32sex64
            or OpCodeOperandKind.imm8_const_1 => 1,
        _ => 0,
    };

    /// <summary>The <paramref name="size"/>-byte register of <paramref name="full"/> (AH-BH for the first four when
    /// <paramref name="highByte"/>).</summary>
    private static Register Sized(Register full, int size, bool highByte)
    {
        int n = full - Register.RAX;
        return size switch
        {
            1 when highByte && n < 4 => Register.AH + n,
            1 when n < 4 => Register.AL + n,
            1 => Register.SPL + (n - 4), // SPL..DIL, then R8L..R15L follow in Iced's order
            2 => Register.AX + n,
            4 => Register.EAX + n,
            _ => full,
        };
    }

    private static ulong Edge(Random random) => random.Next(7) switch
    {
        0 => 0, 1 => 1, 2 => ulong.MaxValue, 3 => 0x8000_0000, 4 => 0x7FFF_FFFF, 5 => 0x80,
        _ => (ulong)random.NextInt64(),
    };
}
