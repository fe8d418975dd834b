using Iced.Intel;
using Vessel.Cpu.Native;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>The native tier's TLB probe and the guest flags around it: flags set before a memory access and read
/// after it must survive the probe on a hit, on a miss (the interpreter takes the access in the middle of the block),
/// on an access running into the next page, and when the guest's handler runs after a fault there; each with the
/// host's probe (flag-keeping where it has BMI2) and with the flag-saving one.</summary>
public class NativeProbeTests
{
    private const ulong Data = 0x100000;

    private sealed record Outcome(Registers Registers, ulong Retired, string Memory, ulong FaultVector, ulong FaultRip, ulong PushedFlags, long Translations, long Steps);

    private static Outcome Run(EmuOptions options, Action<Assembler> code, Action<PagedGuest>? prepare = null)
    {
        using var g = new PagedGuest(options);
        prepare?.Invoke(g);
        VcpuExit exit = g.Run(code);
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        X86Cpu cpu = g.Guest.Cpu;
        var memory = new byte[0x8000];
        g.Guest.Memory.Read(Data, memory);
        Registers registers = g.Guest.Guest.Vcpu.GetRegisters();
        // After a fault the handler has popped the error code: RIP, CS and RFLAGS are on the stack.
        ulong fault = g.Guest.ReadU64(PagedGuest.FaultVector);
        ulong pushedFlags = fault == 0 ? 0 : g.Guest.ReadU64(registers.Rsp + 16);
        return new Outcome(registers, (ulong)cpu.State.InstructionsRetired, Convert.ToHexString(memory),
            fault, g.Guest.ReadU64(PagedGuest.FaultRip), pushedFlags, cpu.NativeTranslations, cpu.NativeSteps);
    }

    /// <summary>Runs <paramref name="code"/> interpreted and translated (with the probe that saves the flags if
    /// <paramref name="savingProbe"/>, else the host's) and compares the two.</summary>
    private static Outcome Compare(bool savingProbe, Action<Assembler> code, Action<PagedGuest>? prepare = null)
    {
        Outcome interpreted = Run(NativeTierTests.InterpreterOptions, code, prepare);
        NativeTranslator.ForceFlagSavingProbe = savingProbe;
        NativeTranslator.ForceFlagKeepingProbe = !savingProbe;
        Outcome native;
        try { native = Run(NativeTierTests.NativeOptions, code, prepare); }
        finally { NativeTranslator.ForceFlagSavingProbe = NativeTranslator.ForceFlagKeepingProbe = false; }
        Assert.Equal(interpreted.Registers, native.Registers);
        Assert.Equal(interpreted.Retired, native.Retired);
        Assert.Equal(interpreted.Memory, native.Memory);
        Assert.Equal(interpreted.FaultVector, native.FaultVector);
        Assert.Equal(interpreted.FaultRip, native.FaultRip);
        Assert.Equal(interpreted.PushedFlags, native.PushedFlags);
        Assert.True(native.Translations >= 1, "nothing was translated");
        return native;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Flags_set_before_a_memory_access_are_read_after_it_on_hits_misses_and_page_crossings(bool savingProbe)
    {
        static void Program(Assembler a)
        {
            var top = a.CreateLabel();
            var skip = a.CreateLabel();
            var samePage = a.CreateLabel();
            a.mov(rbx, Data);
            a.mov(ecx, 64);
            a.mov(rdx, 0x7FFF_FFFF_FFFF_FF00UL);
            a.Label(ref top);
            a.add(rdx, 0x61);
            a.mov(rax, __qword_ptr[rbx + 0x10]);
            a.adc(r8, 0);
            a.add(rdx, rcx);
            a.mov(__qword_ptr[rbx + 0x18], rdx);
            a.cmovo(r9, rdx);
            a.sub(rdx, 0x33);
            a.push(rdx);
            a.pop(rsi);
            a.cmovs(r10, rsi);
            a.cmp(rcx, 40);
            a.mov(rdi, __qword_ptr[rbx + 0xFFC]);
            a.cmovb(r11, rdi);
            a.add(rdx, rcx);
            a.add(__qword_ptr[rbx + 0x20], rax);
            a.adc(r12, 1);
            a.add(r13, rdx);
            a.adc(__qword_ptr[rbx + 0x28], 5);
            a.jo(skip);
            a.inc(r14);
            a.Label(ref skip);
            a.test(cl, 3);
            a.mov(r15, __qword_ptr[rbx + 8]); // ZF of the TEST across the load, to the JNZ
            a.jnz(samePage);
            a.add(rbx, 4096);                 // every fourth round: a page the TLB has not seen
            a.Label(ref samePage);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        Outcome native = Compare(savingProbe, Program);
        Assert.True(native.Steps > 0, "no access reached the interpreter (the crossing loads should)");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_fault_in_the_middle_of_a_block_pushes_the_flags_of_the_instructions_before_it(bool savingProbe)
    {
        // The CMP's flags are live into the faulting load: the handler sees them in RFLAGS as the interpreter has them.
        const ulong NotPresent = Data + 3 * 4096;
        static void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(rsi, Data);
            a.mov(edi, 0x7FFF_FFF0);
            a.Label(ref top);
            a.add(edi, 0x11);
            a.cmp(edi, 0x7FFF_FFF8);
            a.mov(rdx, __qword_ptr[rsi + 8]);
            a.adc(r8, 0);
            a.add(rsi, 4096);
            a.jmp(top);
        }
        Outcome native = Compare(savingProbe, Program, g => g.SetPte(NotPresent, 0));
        Assert.Equal(14UL, native.FaultVector);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_return_to_a_non_canonical_address_in_a_translated_block_is_the_interpreters_general_protection_fault(bool savingProbe)
    {
        // A loop of CALLs whose function returns normally 40 times, then finds a non-canonical return address on
        // its stack: the RET's check (which must keep the CMP's flags for the ADC after the return) hands it back.
        const ulong Function = 0x20000, GpHandler = 0x31000;
        static void Prepare(PagedGuest g)
        {
            g.Guest.SetGate64(13, Segmentation.SegmentedGuest.KernelCode64, GpHandler);
            g.Guest.Load(GpHandler, 64, a =>
            {
                a.mov(__qword_ptr[PagedGuest.FaultVector], 13);
                a.hlt();
            });
            g.Guest.Load(Function, 64, a =>
            {
                var normal = a.CreateLabel();
                a.cmp(ecx, 1);
                a.jne(normal);
                a.mov(rax, 0x0000_8000_0000_1234UL);
                a.mov(__qword_ptr[rsp], rax);
                a.Label(ref normal);
                a.cmp(rcx, 20);
                a.ret();
            });
        }
        static void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(ecx, 40);
            a.Label(ref top);
            a.call(Function);
            a.adc(r8, 0);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        Outcome native = Compare(savingProbe, Program, Prepare);
        Assert.Equal(13UL, native.FaultVector);
        Assert.Equal(18UL, native.Registers.R8); // CF from the CMP for ECX = 19 down to 2
    }
}
