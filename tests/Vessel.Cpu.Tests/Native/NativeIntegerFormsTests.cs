using Iced.Intel;
using Vessel.Cpu.Tests.System;
using Vessel.Cpu.Native;
using Vessel.Hypervisor;
using Xunit.Abstractions;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>The integer forms the native tier once handed back to the interpreter (BT/BTS/BTR/BTC, BSF/BSR, TZCNT/LZCNT, MUL and
/// one-operand IMUL, CMPXCHG, XCHG, CMOVcc of memory, CBW..CQO, STOS and REP STOS, PUSH of an immediate), run by the interpreter and by the
/// native tier: registers, every flag (the undefined ones too: the interpreter defines them), memory and the
/// instruction count must agree, the hot forms must run translated, and a fault in the middle of a block must stop at
/// the faulting instruction with the earlier ones done.</summary>
public class NativeIntegerFormsTests(ITestOutputHelper output)
{
    private const ulong Data = 0x100000;
    private const ulong FsBase = 0xC000_0100;

    private static readonly HashSet<Mnemonic> Mnemonics =
    [
        Mnemonic.Bt, Mnemonic.Bts, Mnemonic.Btr, Mnemonic.Btc, Mnemonic.Bsf, Mnemonic.Bsr, Mnemonic.Mul, Mnemonic.Imul,
        Mnemonic.Cmpxchg, Mnemonic.Xchg, Mnemonic.Cmovb, Mnemonic.Cmove, Mnemonic.Cmovne, Mnemonic.Cmovl, Mnemonic.Cmovg,
        Mnemonic.Cmovs, Mnemonic.Cmovp, Mnemonic.Cbw, Mnemonic.Cwde, Mnemonic.Cdqe, Mnemonic.Cwd, Mnemonic.Cdq,
        Mnemonic.Cqo, Mnemonic.Add, Mnemonic.Sub, Mnemonic.Adc, Mnemonic.Tzcnt, Mnemonic.Lzcnt,
    ];

    /// <summary>Not the bit tests of memory by a register: a random offset addresses far outside the data (those have
    /// a test of their own).</summary>
    private static readonly Code[] Forms = NativeRehostedFormsTests.FormsOf(Mnemonics, c =>
        !(c.Mnemonic() is Mnemonic.Bt or Mnemonic.Bts or Mnemonic.Btr or Mnemonic.Btc && c.ToOpCode().GetOpKind(1) != OpCodeOperandKind.imm8));

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, true)]
    [InlineData(3, false)]
    [InlineData(4, true)]
    public void Random_programs_of_integer_forms_agree_with_the_interpreter(int seedGroup, bool savingProbe)
    {
        int baseSeed = Environment.GetEnvironmentVariable("VESSEL_REHOST_SEED") is { } s ? int.Parse(s) : seedGroup * 1000 + 500;
        WithProbe(savingProbe, () =>
        {
            for (int i = 0; i < 25; i++) NativeRehostedFormsTests.AssertRandomProgramAgrees(Forms, baseSeed + i, output);
        });
    }

    /// <summary>Runs <paramref name="test"/> with translations using the flag-saving probe (the one for hosts without
    /// BMI2) or the flag-keeping one where the host can run it.</summary>
    private static void WithProbe(bool savingProbe, Action test)
    {
        NativeTranslator.ForceFlagSavingProbe = savingProbe;
        NativeTranslator.ForceFlagKeepingProbe = !savingProbe;
        try { test(); }
        finally { NativeTranslator.ForceFlagSavingProbe = NativeTranslator.ForceFlagKeepingProbe = false; }
    }

    /// <summary>FS base = <paramref name="value"/> (WRMSR; RAX, RCX and RDX clobbered).</summary>
    private static void SetFsBase(Assembler a, ulong value)
    {
        a.mov(ecx, (uint)FsBase);
        a.mov(eax, (uint)value);
        a.mov(edx, (uint)(value >> 32));
        a.wrmsr();
    }

    /// <summary>The hot forms of the guest's userland, in a loop over changing values.</summary>
    private static void HotIntegerLoop(Assembler a)
    {
        var top = a.CreateLabel();
        SetFsBase(a, Data + 0x800);
        a.mov(rbx, Data);
        a.mov(r15d, 200);
        a.mov(r8, 0x0123_4567_89AB_CDEFUL);
        a.Label(ref top);
        a.bt(__dword_ptr[rbx + 0x10], 12);        // Bt_rm32_imm8
        a.adc(r9, 0);
        a.bts(__qword_ptr[rbx + 0x18], 45);
        a.mov(eax, r15d);
        a.bt(r8, rax);                             // by a register: mod 64
        a.btc(r8d, 7);
        a.mov(rdx, r15);
        a.sub(rdx, 100);                           // -99..100: the bit string reaches before and after the operand
        a.bts(__qword_ptr[rbx + 0x100], rdx);
        a.@lock.btr(__dword_ptr[rbx + 0x200], edx);
        a.bt(__dword_ptr.fs[0x10], edx);           // FS-relative, at FS base + 0x10 + the offset's dwords
        a.adc(r9, 0);
        a.bsf(eax, r15d);
        a.bsr(r10, r8);
        a.mov(r11, -5L);
        a.xor(eax, eax);
        a.bsf(r11, rax);                           // a zero source: R11 unchanged, ZF set
        a.setz(al);
        a.add(r9, rax);
        a.tzcnt(eax, r15d);
        a.adc(r9, rax);
        a.lzcnt(rax, __qword_ptr[rbx + 0x18]);
        a.adc(r9, rax);
        a.mov(rax, r8);
        a.mul(__qword_ptr[rbx + 0x20]);            // Mul_rm64
        a.add(r9, rdx);
        a.mov(eax, r15d);
        a.imul(r8d);
        a.adc(r9, rdx);
        a.mov(eax, __dword_ptr[rbx + 0x30]);
        a.@lock.cmpxchg(__dword_ptr[rbx + 0x30], r15d); // equal: swapped
        a.cmpxchg(__qword_ptr[rbx + 0x38], r8);    // not equal (the low half differs): RAX loaded
        a.xchg(__qword_ptr[rbx + 0x40], r8);
        a.xchg(r12d, r15d);
        a.xchg(r15d, r12d);
        a.cmp(r15d, 100);
        a.cmovg(r12d, __dword_ptr[rbx + 0x48]);   // also when false: R12's upper half cleared
        a.cdqe();
        a.cqo();
        a.cdq();
        a.cwde();
        a.push(-3);                                // Pushq_imm8
        a.push(0x1234_5678);                       // Pushq_imm32
        a.pop(r13);
        a.add(r9, r13);
        a.pop(r13);
        a.add(r9, r13);
        a.lea(rdi, __[rbx + 0x600]);
        a.mov(eax, r15d);
        a.stosb();
        a.stosq();
        a.mov(rdi, Data + 0x1F80);                 // 0x100 bytes across the page end: two runs
        a.mov(ecx, 0x100);
        a.rep.stosb();
        a.lea(rdi, __[rbx + 0x2800]);
        a.mov(ecx, 32);
        a.rep.stosq();
        a.dec(r15d);
        a.jnz(top);
        a.hlt();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_loop_of_the_hot_integer_forms_runs_translated_and_agrees_with_the_interpreter(bool savingProbe)
    {
        using var interpreterGuest = new PagedGuest(NativeTierTests.InterpreterOptions);
        using var nativeGuest = new PagedGuest(NativeTierTests.NativeOptions);
        Assert.Equal(VcpuExitReason.Halt, interpreterGuest.Run(HotIntegerLoop).Reason);
        WithProbe(savingProbe, () => Assert.Equal(VcpuExitReason.Halt, nativeGuest.Run(HotIntegerLoop).Reason));

        Registers expected = interpreterGuest.Guest.Guest.Vcpu.GetRegisters();
        Assert.Equal(expected, nativeGuest.Guest.Guest.Vcpu.GetRegisters());
        Assert.Equal(ReadData(interpreterGuest), ReadData(nativeGuest));
        Assert.Equal(interpreterGuest.Guest.Cpu.State.InstructionsRetired, nativeGuest.Guest.Cpu.State.InstructionsRetired);
        Assert.Equal(unchecked((ulong)-5L), expected.R11); // BSF of zero kept its destination
        Assert.Equal(0x0101_0101_0101_0101UL, nativeGuest.Guest.ReadU64(Data + 0x1F80)); // REP STOSB of the last AL (1)
        Assert.Equal(0x0101_0101_0101_0101UL, nativeGuest.Guest.ReadU64(Data + 0x2078));
        X86Cpu cpu = nativeGuest.Guest.Cpu;
        output.WriteLine($"{cpu.NativeSteps} instructions handed back, {cpu.NativeEntries} entries");
        // Only the first touches of each page (TLB misses) and the WRMSR go to the interpreter.
        Assert.True(cpu.NativeSteps < 30, $"{cpu.NativeSteps} instructions handed back");
    }

    [Fact]
    public void A_locked_exchange_across_a_cache_line_goes_to_the_interpreter_and_agrees()
    {
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(rbx, Data);
            a.mov(r15d, 50);
            a.Label(ref top);
            a.mov(eax, __dword_ptr[rbx + 0x3E]);
            a.lea(ecx, __[rax + 3]);
            a.@lock.cmpxchg(__dword_ptr[rbx + 0x3E], ecx); // bytes 0x3E-0x41: across the line at 0x40
            a.xchg(__qword_ptr[rbx + 0x7C], r15);      // 0x7C-0x83: across the line at 0x80
            a.xchg(__qword_ptr[rbx + 0x7C], r15);
            a.@lock.bts(__dword_ptr[rbx + 0xBE], r15d);
            a.dec(r15d);
            a.jnz(top);
            a.hlt();
        }
        using var interpreterGuest = new PagedGuest(NativeTierTests.InterpreterOptions);
        using var nativeGuest = new PagedGuest(NativeTierTests.NativeOptions);
        Assert.Equal(VcpuExitReason.Halt, interpreterGuest.Run(Program).Reason);
        Assert.Equal(VcpuExitReason.Halt, nativeGuest.Run(Program).Reason);
        Assert.Equal(interpreterGuest.Guest.Guest.Vcpu.GetRegisters(), nativeGuest.Guest.Guest.Vcpu.GetRegisters());
        Assert.Equal(ReadData(interpreterGuest), ReadData(nativeGuest));
        Assert.Equal(150u, nativeGuest.Guest.Guest.Memory.ReadUInt32(Data + 0x3E));
        // Every one of them ran under the VM's lock in the interpreter: none as a host split lock.
        Assert.Equal(interpreterGuest.Guest.Cpu.SplitLockFallbacks, nativeGuest.Guest.Cpu.SplitLockFallbacks);
        Assert.True(nativeGuest.Guest.Cpu.NativeEntries >= 2, "nothing ran translated");
    }

    public enum FaultingForm { BitString, Store, RepStore, Exchange, CompareExchange, Multiply }

    /// <summary>Each round runs the forms before the faulting one, then the faulting form a page further on; the page
    /// after five is not present. The fault must come at that form with the earlier ones done (and REP STOS's count
    /// and RDI as far as the stores got), as in the interpreter.</summary>
    [Theory]
    [InlineData(FaultingForm.BitString, false)]
    [InlineData(FaultingForm.BitString, true)]
    [InlineData(FaultingForm.Store, false)]
    [InlineData(FaultingForm.Store, true)]
    [InlineData(FaultingForm.RepStore, false)]
    [InlineData(FaultingForm.RepStore, true)]
    [InlineData(FaultingForm.Exchange, false)]
    [InlineData(FaultingForm.CompareExchange, false)]
    [InlineData(FaultingForm.CompareExchange, true)]
    [InlineData(FaultingForm.Multiply, false)]
    public void A_page_fault_in_an_integer_form_stops_at_it_with_earlier_effects_kept(FaultingForm form, bool savingProbe)
    {
        const ulong NotPresent = Data + 5 * 4096;
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(rsi, Data);
            a.mov(r13, 0x4000 * 8 + 5);                 // the bit string's offset: 4 pages on
            a.Label(ref top);
            a.bts(r8d, 3);
            a.inc(r9b);
            a.bsf(r10, rsi);
            a.mov(rax, rsi);
            a.mul(rsi);
            a.mov(r12, rax);
            switch (form)
            {
                case FaultingForm.BitString:
                    a.bts(__qword_ptr[rsi + 0x10], r13);
                    break;
                case FaultingForm.Store:
                    a.lea(rdi, __[rsi + 0x4000 - 3]);
                    a.stosq();                          // across into the next page on the last round
                    break;
                case FaultingForm.RepStore:
                    a.lea(rdi, __[rsi + 0x4000 - 0x100]);
                    a.mov(ecx, 0x300);
                    a.rep.stosb();
                    break;
                case FaultingForm.Exchange:
                    a.xchg(__dword_ptr[rsi + 0x4000], r8d);
                    break;
                case FaultingForm.CompareExchange:
                    a.@lock.cmpxchg(__qword_ptr[rsi + 0x4000], r9);
                    break;
                default:
                    a.mul(__qword_ptr[rsi + 0x4000]);
                    break;
            }
            a.inc(r11d);
            a.add(rsi, 4096);
            a.jmp(top);
        }
        using var interpreterGuest = new PagedGuest(NativeTierTests.InterpreterOptions);
        using var nativeGuest = new PagedGuest(NativeTierTests.NativeOptions);
        foreach (PagedGuest g in new[] { interpreterGuest, nativeGuest })
        {
            g.SetPte(NotPresent, 0);
            g.SetPte(NotPresent + 4096, 0);
            WithProbe(savingProbe, () => Assert.Equal(VcpuExitReason.Halt, g.Run(Program).Reason));
        }
        Assert.Equal(interpreterGuest.Guest.Guest.Vcpu.GetRegisters(), nativeGuest.Guest.Guest.Vcpu.GetRegisters());
        Assert.Equal(ReadData(interpreterGuest), ReadData(nativeGuest));
        Assert.Equal(14UL, nativeGuest.Guest.ReadU64(PagedGuest.FaultVector));
        Assert.Equal(interpreterGuest.Guest.ReadU64(PagedGuest.FaultRip), nativeGuest.Guest.ReadU64(PagedGuest.FaultRip));
        Assert.Equal(interpreterGuest.Guest.ReadU64(PagedGuest.FaultAddress), nativeGuest.Guest.ReadU64(PagedGuest.FaultAddress));
        Assert.Equal(NotPresent, nativeGuest.Guest.ReadU64(PagedGuest.FaultAddress) & ~0xFFFUL);
        Assert.Equal(interpreterGuest.Guest.Cpu.State.InstructionsRetired, nativeGuest.Guest.Cpu.State.InstructionsRetired);
        Assert.True(nativeGuest.Guest.Cpu.NativeEntries >= 2, "nothing ran translated");
    }

    private static string ReadData(PagedGuest g)
    {
        var memory = new byte[0x6000];
        g.Guest.Memory.Read(Data, memory);
        return Convert.ToHexString(memory);
    }
}
