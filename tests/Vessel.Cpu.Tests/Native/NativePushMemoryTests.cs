using Iced.Intel;
using Vessel.Cpu.Native;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>PUSH of a 64-bit memory operand in translated code: programs agree with the interpreter register for
/// register and byte for byte under both TLB probes without handing the PUSH back, and a fault on the operand (its
/// page not mapped) is taken at the PUSH with nothing pushed and every earlier effect of the block stored.</summary>
public class NativePushMemoryTests
{
    private const ulong Data = 0x100000, Unmapped = 0x180000;

    private sealed record Outcome(Registers Registers, ulong Retired, string Memory, string Stack,
        ulong PfVector, ulong PfCode, ulong PfAddress, ulong PfIp, long Steps);

    private static Outcome Run(EmuOptions options, Action<Assembler> code)
    {
        using var g = new PagedGuest(options);
        g.SetPte(Unmapped, 0);
        for (int k = 0; k < 64; k++) g.Guest.WriteU64(Data + (ulong)k * 8, 0x0101_0101_0101_0101UL * (ulong)(k + 1));
        VcpuExit exit = g.Run(code);
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        X86Cpu cpu = g.Guest.Cpu;
        var memory = new byte[0x200];
        g.Guest.Memory.Read(Data, memory);
        var stack = new byte[0x100];
        g.Guest.Memory.Read(0x7000 - 0x100, stack);
        return new Outcome(g.Guest.Guest.Vcpu.GetRegisters(), (ulong)cpu.State.InstructionsRetired, Convert.ToHexString(memory),
            Convert.ToHexString(stack), g.Guest.ReadU64(PagedGuest.FaultVector), g.Guest.ReadU64(PagedGuest.FaultCode),
            g.Guest.ReadU64(PagedGuest.FaultAddress), g.Guest.ReadU64(PagedGuest.FaultRip), cpu.NativeSteps);
    }

    /// <summary>The interpreter's outcome and the translated ones (flag-saving probe, then flag-keeping where the host
    /// can) must agree; returns the last translated one.</summary>
    private static Outcome RunBoth(Action<Assembler> code)
    {
        Outcome interpreted = Run(NativeTierTests.InterpreterOptions, code);
        Outcome native = RunNative(code, savingProbe: true);
        Assert.Equal(interpreted with { Steps = 0 }, native with { Steps = 0 });
        if (!NativeTranslator.HostCanKeepFlagsInProbe) return native;
        native = RunNative(code, savingProbe: false);
        Assert.Equal(interpreted with { Steps = 0 }, native with { Steps = 0 });
        return native;
    }

    private static Outcome RunNative(Action<Assembler> code, bool savingProbe)
    {
        NativeTranslator.ForceFlagSavingProbe = savingProbe;
        NativeTranslator.ForceFlagKeepingProbe = !savingProbe;
        try { return Run(NativeTierTests.NativeOptions, code); }
        finally { NativeTranslator.ForceFlagSavingProbe = NativeTranslator.ForceFlagKeepingProbe = false; }
    }

    [Fact]
    public void Push_of_memory_operands_stays_translated_and_agrees_with_the_interpreter()
    {
        const int Rounds = 2000;
        Outcome native = RunBoth(a =>
        {
            var top = a.CreateLabel();
            a.mov(r15, Data);
            a.mov(ecx, Rounds);
            a.xor(r13d, r13d);
            a.Label(ref top);
            a.mov(eax, ecx);
            a.and(eax, 31);
            a.cmp(eax, 7); // flags a PUSH must leave alone, read by the ADC below
            a.push(__qword_ptr[r15 + rax * 8]);        // base and index
            a.push(__qword_ptr[rsp]);                  // the operand read at the RSP before the push
            a.push(__qword_ptr[Data + 0x100]);         // absolute
            a.adc(r13, 0);
            a.pop(rbx);
            a.add(r14, rbx);
            a.pop(rbx);
            a.pop(rdx);
            a.xor(r14, rbx);
            a.add(r14, rdx);
            a.mov(__qword_ptr[r15 + rax * 8 + 0x100], r14); // the data changes under the next rounds' pushes
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        });

        Assert.NotEqual(0UL, native.Registers.R14);
        Assert.True(native.Registers.R13 > 0 && native.Registers.R13 < Rounds, $"CF was set in {native.Registers.R13} rounds");
        Assert.True(native.Steps < Rounds, $"{native.Steps} instructions handed back for {3 * Rounds} pushes");
    }

    [Fact]
    public void A_push_whose_operand_page_is_unmapped_faults_at_the_push_with_nothing_pushed()
    {
        // 300 rounds of a block that stores, then pushes from R15; in the last, R15 points at an unmapped page.
        Outcome native = RunBoth(a =>
        {
            var top = a.CreateLabel();
            var go = a.CreateLabel();
            a.mov(r15, Data);
            a.mov(ecx, 300);
            a.mov(r12, rsp);
            a.Label(ref top);
            a.add(r13, rcx);
            a.mov(__qword_ptr[Data + 0x1F8], r13);
            a.cmp(ecx, 1);
            a.jne(go);
            a.mov(r15, Unmapped + 0x18);
            a.Label(ref go);
            a.push(__qword_ptr[r15]);
            a.pop(rax);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        });

        Assert.Equal(14UL, native.PfVector);
        Assert.Equal(Unmapped + 0x18, native.PfAddress);
        Assert.Equal(0UL, native.PfCode); // not present, a read, supervisor
        Assert.Equal(300UL * 301 / 2, native.Registers.R13);
    }

    [Fact]
    public void Leave_in_function_frames_stays_translated_and_agrees_with_the_interpreter()
    {
        const int Rounds = 2000;
        Outcome native = RunBoth(a =>
        {
            var top = a.CreateLabel();
            var function = a.CreateLabel();
            var done = a.CreateLabel();
            a.mov(ecx, Rounds);
            a.mov(rbp, 0x1234);
            a.Label(ref top);
            a.call(function);
            a.adc(r13, 0);
            a.dec(ecx);
            a.jnz(top);
            a.jmp(done);
            // A frame: RBP saved and set, a local written and read, LEAVE and RET; CF set by the body survives LEAVE.
            a.Label(ref function);
            a.push(rbp);
            a.mov(rbp, rsp);
            a.sub(rsp, 32);
            a.mov(__qword_ptr[rbp - 8], rcx);
            a.add(r14, __qword_ptr[rbp - 8]);
            a.bt(ecx, 0);
            a.leave();
            a.ret();
            a.Label(ref done);
            a.hlt();
        });

        Assert.Equal(0x1234UL, native.Registers.Rbp);
        Assert.Equal((ulong)Rounds / 2, native.Registers.R13);
        Assert.True(native.Steps < Rounds, $"{native.Steps} instructions handed back for {Rounds} LEAVEs");
    }
}
