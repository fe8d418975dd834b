using Iced.Intel;
using Vessel.Cpu.Native;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using Xunit.Abstractions;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>The SSE forms the native tier re-hosts (<see cref="NativeSseForms"/>) in random long-mode programs, run by
/// the interpreter and by the native tier: general and XMM registers, MXCSR, the flags (PTEST), memory and the
/// instruction count must agree; and the faults (#PF in the middle of a block, #GP of a misaligned m128, #NM once
/// CR0.TS is set) must stop both at the same instruction with the same earlier effects.</summary>
public class NativeSseFormsTests(ITestOutputHelper output)
{
    private const ulong Data = SseNativeGuest.Data;
    private const int FlagLog = 0x2800, Counter = 0x2F00;

    /// <summary>Every legacy 64-bit encoding of a re-hosted mnemonic whose operands the generator fills.</summary>
    private static readonly Code[] Forms = GeneratedForms(NativeSseForms.Contains);

    /// <summary>Every legacy 64-bit encoding of a mnemonic <paramref name="taken"/> says yes to whose operands the
    /// generator fills.</summary>
    internal static Code[] GeneratedForms(Func<Mnemonic, bool> taken) => Enum.GetValues<Code>().Where(c =>
    {
        if (c == Code.INVALID || !taken(c.Mnemonic())) return false;
        OpCodeInfo info = c.ToOpCode();
        if (!info.IsInstruction || !info.Mode64 || info.Encoding != EncodingKind.Legacy) return false;
        for (int i = 0; i < info.OpCount; i++)
            if (!Fillable(info.GetOpKind(i))) return false;
        return true;
    }).ToArray();

    private static bool Fillable(OpCodeOperandKind kind) => kind is OpCodeOperandKind.xmm_reg or OpCodeOperandKind.xmm_rm
        or OpCodeOperandKind.xmm_or_mem or OpCodeOperandKind.r32_reg or OpCodeOperandKind.r64_reg or OpCodeOperandKind.r32_rm
        or OpCodeOperandKind.r64_rm or OpCodeOperandKind.r32_or_mem or OpCodeOperandKind.r64_or_mem or OpCodeOperandKind.mem
        or OpCodeOperandKind.imm8;

    // Never RBX (the data base), RSI (the index), RSP, R13 (the flag log) or R14/R15.
    internal static readonly Register[] Gprs = [Register.RAX, Register.RCX, Register.RDX, Register.RBP, Register.RDI, Register.R8,
        Register.R9, Register.R10, Register.R12];

    [Fact]
    public void Every_rehosted_mnemonic_has_a_generated_form()
    {
        var uncovered = NativeSseForms.All.Except(Forms.Select(c => c.Mnemonic())).ToArray();
        Assert.True(uncovered.Length == 0, $"no generated form for {string.Join(", ", uncovered)}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Random_programs_of_sse_forms_agree_with_the_interpreter(int seedGroup)
    {
        int baseSeed = Environment.GetEnvironmentVariable("VESSEL_SSE_SEED") is { } s ? int.Parse(s) : seedGroup * 1000;
        for (int i = 0; i < 20; i++)
        {
            int seed = baseSeed + i;
            var interpreted = Run(NativeTierTests.InterpreterOptions, seed);
            var native = Run(NativeTierTests.NativeOptions, seed);
            if (interpreted with { Steps = 0, Translations = 0 } != native with { Steps = 0, Translations = 0 })
                output.WriteLine($"seed {seed} (VESSEL_SSE_SEED={seed}) disagrees");
            SseNativeGuest.AssertSameState(interpreted, native);
            Assert.Equal(ulong.MaxValue, native.FaultVector);
            Assert.True(native.Translations >= 1, $"seed {seed}: nothing translated");
        }
    }

    [Fact]
    public void A_loop_of_the_common_sse_forms_runs_translated_without_handing_them_back()
    {
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            var constant = a.CreateLabel();
            var constantHigh = a.CreateLabel();
            a.mov(rbx, Data);
            a.mov(ecx, 300);
            a.Label(ref top);
            a.pxor(xmm0, xmm0);
            a.movdqu(xmm1, __xmmword_ptr[rbx + 0x13]);          // unaligned load
            a.pcmpeqb(xmm0, xmm1);
            a.pmovmskb(eax, xmm0);
            a.movdqa(xmm2, __xmmword_ptr[rbx + 0x40]);          // aligned load
            a.por(xmm2, xmm1);
            a.psubb(xmm2, __xmmword_ptr[rbx + 0x50]);
            a.punpcklbw(xmm3, xmm2);
            a.punpcklwd(xmm3, xmm3);
            a.pshufd(xmm4, xmm3, 0x1B);
            a.movd(xmm5, ecx);
            a.movq(r8, xmm4);
            a.movsd(xmm6, __qword_ptr[rbx + 0x68]);
            a.movsd(__qword_ptr[rbx + 0x70], xmm6);
            a.movups(__xmmword_ptr[rbx + 0x81], xmm4);          // unaligned store
            a.movaps(__xmmword_ptr[rbx + 0xA0], xmm3);          // aligned store
            a.pminub(xmm1, xmm2);
            a.pand(xmm1, xmm5);
            a.pandn(xmm5, xmm2);
            a.movdqu(xmm7, __xmmword_ptr[constant]);            // RIP-relative
            a.pxor(xmm1, xmm7);
            a.movq(xmm6, __qword_ptr[constantHigh]);
            a.add(edx, eax);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
            a.Label(ref constant);
            a.dq(0x0123_4567_89AB_CDEFUL);
            a.Label(ref constantHigh);
            a.dq(0xFEDC_BA98_7654_3210UL);
        }
        using var interpreterGuest = new SseNativeGuest(NativeTierTests.InterpreterOptions);
        using var nativeGuest = new SseNativeGuest(NativeTierTests.NativeOptions);
        var data = RandomBytes(new Random(7), SseNativeGuest.DataBytes);
        interpreterGuest.Guest.Memory.Write(Data, data);
        nativeGuest.Guest.Memory.Write(Data, data);
        var interpreted = interpreterGuest.Run(Program);
        var native = nativeGuest.Run(Program);

        SseNativeGuest.AssertSameState(interpreted, native);
        Assert.Equal(ulong.MaxValue, native.FaultVector);
        Assert.True(nativeGuest.Cpu.NativeEntries >= 2, $"{nativeGuest.Cpu.NativeEntries} entries into translated code");
        // Only the first touches of the data page (TLB misses) go to the interpreter.
        Assert.True(native.Steps < 20, $"{native.Steps} instructions handed back");
    }

    [Fact]
    public void A_page_fault_on_an_sse_load_stops_at_that_instruction_with_earlier_effects_kept()
    {
        // Each round XORs XMM1 into XMM0, stores it, then loads 16 bytes a page further on; the page after five is not
        // present. The forms before the faulting load in the block must have run, the ones after it not.
        const ulong NotPresent = Data + 5 * 4096;
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(rsi, Data);
            a.Label(ref top);
            a.paddd(xmm1, xmm2);
            a.pxor(xmm0, xmm1);
            a.movdqu(__xmmword_ptr[rsi + 0x10], xmm0);
            a.movdqu(xmm3, __xmmword_ptr[rsi + 0x4000]);
            a.paddq(xmm4, xmm3);
            a.add(rsi, 4096);
            a.jmp(top);
        }
        var outcomes = new List<SseNativeGuest.Outcome>();
        foreach (EmuOptions options in new[] { NativeTierTests.InterpreterOptions, NativeTierTests.NativeOptions })
        {
            using var g = new SseNativeGuest(options);
            g.Paged.SetPte(NotPresent, 0);
            outcomes.Add(g.Run(Program, RandomBytes(new Random(3), 256)));
        }
        SseNativeGuest.AssertSameState(outcomes[0], outcomes[1]);
        Assert.Equal(14UL, outcomes[1].FaultVector);
        Assert.Equal(NotPresent, outcomes[1].FaultAddress);
        Assert.True(outcomes[1].Translations >= 1, "nothing ran translated");
    }

    [Fact]
    public void A_page_crossing_sse_access_agrees_with_the_interpreter()
    {
        // 16-byte loads and stores and an 8-byte load straddling a page boundary, in a hot loop.
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(rbx, Data);
            a.mov(ecx, 200);
            a.Label(ref top);
            a.movdqu(xmm0, __xmmword_ptr[rbx + 0xFF9]);
            a.paddb(xmm1, xmm0);
            a.movups(__xmmword_ptr[rbx + 0x1FF5], xmm1);
            a.movq(xmm2, __qword_ptr[rbx + 0x2FFC]);
            a.pxor(xmm3, xmm2);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        var outcomes = new List<SseNativeGuest.Outcome>();
        foreach (EmuOptions options in new[] { NativeTierTests.InterpreterOptions, NativeTierTests.NativeOptions })
        {
            using var g = new SseNativeGuest(options);
            g.Guest.Memory.Write(Data, RandomBytes(new Random(5), SseNativeGuest.DataBytes));
            outcomes.Add(g.Run(Program));
        }
        SseNativeGuest.AssertSameState(outcomes[0], outcomes[1]);
        Assert.True(outcomes[1].Translations >= 1, "nothing ran translated");
    }

    [Fact]
    public void A_misaligned_movdqa_raises_gp_at_that_instruction_after_the_loop_ran_translated()
    {
        // RBX walks by 8: aligned every other round, then MOVDQA hits a misaligned address and takes #GP(0).
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(rbx, Data);
            a.mov(ecx, 0);
            a.Label(ref top);
            a.pcmpeqd(xmm1, xmm1);
            a.psubd(xmm0, xmm1);
            a.movdqa(__xmmword_ptr[rbx], xmm0);
            a.movdqa(xmm2, __xmmword_ptr[rbx]);
            a.paddd(xmm3, xmm2);
            a.inc(ecx);
            a.cmp(ecx, 100);
            var keep = a.CreateLabel();
            a.jb(keep);
            a.add(rbx, 8);
            a.Label(ref keep);
            a.jmp(top);
        }
        var outcomes = new List<SseNativeGuest.Outcome>();
        foreach (EmuOptions options in new[] { NativeTierTests.InterpreterOptions, NativeTierTests.NativeOptions })
        {
            using var g = new SseNativeGuest(options);
            outcomes.Add(g.Run(Program));
        }
        SseNativeGuest.AssertSameState(outcomes[0], outcomes[1]);
        Assert.Equal(13UL, outcomes[1].FaultVector);
        Assert.Equal(100UL, outcomes[1].Registers.Rcx);
        Assert.True(outcomes[1].Translations >= 1, "nothing ran translated");
    }

    [Fact]
    public void Setting_cr0_ts_makes_the_next_translated_sse_form_raise_nm()
    {
        // The loop runs translated; at round 50 it sets CR0.TS, and the PADDD after it must raise #NM.
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            var skip = a.CreateLabel();
            a.mov(ecx, 0);
            a.Label(ref top);
            a.paddd(xmm0, xmm1);
            a.inc(ecx);
            a.cmp(ecx, 50);
            a.jne(skip);
            a.mov(rax, cr0);
            a.or(rax, 8);
            a.mov(cr0, rax);
            a.Label(ref skip);
            a.pxor(xmm2, xmm0);
            a.jmp(top);
        }
        var outcomes = new List<SseNativeGuest.Outcome>();
        foreach (EmuOptions options in new[] { NativeTierTests.InterpreterOptions, NativeTierTests.NativeOptions })
        {
            using var g = new SseNativeGuest(options);
            outcomes.Add(g.Run(Program, RandomBytes(new Random(9), 256)));
        }
        SseNativeGuest.AssertSameState(outcomes[0], outcomes[1]);
        Assert.Equal(7UL, outcomes[1].FaultVector);
        Assert.Equal(50UL, outcomes[1].Registers.Rcx);
        Assert.True(outcomes[1].Translations >= 1, "nothing ran translated");
    }

    private static byte[] RandomBytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }

    private static SseNativeGuest.Outcome Run(EmuOptions options, int seed)
    {
        var random = new Random(seed);
        using var g = new SseNativeGuest(options);
        g.Guest.Memory.Write(Data, RandomBytes(random, SseNativeGuest.DataBytes));
        byte[] xmm = RandomBytes(random, 256);
        return g.Run(a => EmitProgram(a, random), xmm);
    }

    private static void EmitProgram(Assembler a, Random random)
    {
        a.mov(rbx, Data);
        a.mov(esi, random.Next(0x10) * 8); // RSI*2: a multiple of 16
        foreach (Register r in Gprs) a.AddInstruction(Instruction.Create(Code.Mov_r64_imm64, r, (ulong)random.NextInt64()));
        a.push(random.Next() & 0x8D5);
        a.popfq();
        a.mov(__dword_ptr[rbx + Counter], 3);
        var top = a.CreateLabel();
        a.Label(ref top);
        for (int i = 0; i < 40; i++)
        {
            a.AddInstruction(RandomForm(random));
            if (random.Next(4) == 0)
            {
                a.pushfq();
                a.pop(r13);
                a.mov(__qword_ptr[rbx + FlagLog + (i % 64) * 8], r13);
            }
        }
        a.dec(__dword_ptr[rbx + Counter]);
        a.jnz(top);
        a.hlt();
    }

    private static Instruction RandomForm(Random random) => RandomForm(random, Forms);

    /// <summary>One of <paramref name="forms"/> with random registers (XMM0-15, <see cref="Gprs"/>), immediates and
    /// memory operands (see <see cref="SetMemory"/>).</summary>
    internal static Instruction RandomForm(Random random, Code[] forms)
    {
        Code code = forms[random.Next(forms.Length)];
        OpCodeInfo info = code.ToOpCode();
        var instruction = new Instruction { Code = code };
        for (int i = 0; i < info.OpCount; i++)
        {
            OpCodeOperandKind kind = info.GetOpKind(i);
            bool memory = kind == OpCodeOperandKind.mem
                || kind is OpCodeOperandKind.xmm_or_mem or OpCodeOperandKind.r32_or_mem or OpCodeOperandKind.r64_or_mem && random.Next(2) == 0;
            switch (kind)
            {
                case OpCodeOperandKind.imm8:
                    instruction.SetOpKind(i, OpKind.Immediate8);
                    instruction.Immediate8 = (byte)random.Next(256);
                    break;
                case OpCodeOperandKind.xmm_reg or OpCodeOperandKind.xmm_rm or OpCodeOperandKind.xmm_or_mem when !memory:
                    SetRegister(ref instruction, i, Register.XMM0 + random.Next(16));
                    break;
                case OpCodeOperandKind.r32_reg or OpCodeOperandKind.r32_rm or OpCodeOperandKind.r32_or_mem when !memory:
                    SetRegister(ref instruction, i, Register.EAX + (Gprs[random.Next(Gprs.Length)] - Register.RAX));
                    break;
                case OpCodeOperandKind.r64_reg or OpCodeOperandKind.r64_rm or OpCodeOperandKind.r64_or_mem when !memory:
                    SetRegister(ref instruction, i, Gprs[random.Next(Gprs.Length)]);
                    break;
                default:
                    SetMemory(ref instruction, i, random, AlignmentOf(code));
                    break;
            }
        }
        return instruction;
    }

    /// <summary>16 where the form's m128 operand must be aligned (else #GP), 1 otherwise.</summary>
    private static int AlignmentOf(Code code)
    {
        var probe = new Instruction { Code = code };
        return probe.MemorySize.GetSize() == 16 && !SimdUnit.UnalignedAllowed(code.Mnemonic()) ? 16 : 1;
    }

    private static void SetRegister(ref Instruction instruction, int operand, Register r)
    {
        instruction.SetOpKind(operand, OpKind.Register);
        instruction.SetOpRegister(operand, r);
    }

    /// <summary>[RBX + disp] or [RBX + RSI*2 + disp] inside the data (below the flag log), aligned as the form needs;
    /// an unaligned one sometimes across the first or second page boundary.</summary>
    private static void SetMemory(ref Instruction instruction, int operand, Random random, int alignment)
    {
        instruction.SetOpKind(operand, OpKind.Memory);
        instruction.MemoryBase = Register.RBX;
        if (random.Next(2) == 0)
        {
            instruction.MemoryIndex = Register.RSI;
            instruction.MemoryIndexScale = 2;
        }
        int displacement = alignment == 1 && random.Next(6) == 0
            ? 0x1000 * random.Next(1, 3) - random.Next(1, 16)
            : random.Next(0x2600 / alignment) * alignment;
        instruction.MemoryDisplacement64 = (ulong)displacement;
        instruction.MemoryDisplSize = 8;
    }
}
