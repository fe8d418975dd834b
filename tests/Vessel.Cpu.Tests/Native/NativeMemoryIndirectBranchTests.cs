using Iced.Intel;
using Vessel.Cpu.Native;
using Vessel.Cpu.Tests.Segmentation;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>JMP and CALL through a memory operand (PLT stubs' <c>jmp [rip+GOT]</c>, vtable calls) in translated code:
/// programs agree with the interpreter register for register and instruction for instruction under both TLB probes,
/// stay in translated code through the jump cache, and fault exactly where the interpreter faults (the operand's
/// page not mapped, the stack not writable, a non-canonical target) with nothing pushed.</summary>
public class NativeMemoryIndirectBranchTests
{
    private const ulong Data = 0x100000, Got = Data + 0x800, Stubs = 0x21000, Functions = 0x22000, GpHandler = 0x2F000;
    private const ulong Unmapped = 0x180000;

    private sealed record Outcome(Registers Registers, ulong Retired, string Memory, ulong GpVector, ulong GpIp, ulong GpSp,
        ulong PfVector, ulong PfCode, ulong PfAddress, ulong PfIp, long Entries, long Steps);

    private static Outcome Run(EmuOptions options, Action<Assembler> code, Action<PagedGuest> prepare)
    {
        using var g = new PagedGuest(options);
        g.Guest.SetGate64(13, SegmentedGuest.KernelCode64, GpHandler);
        Recorders.Handler64(g.Guest, GpHandler, 13, hasErrorCode: true);
        g.SetPte(Unmapped, 0);
        prepare(g);
        VcpuExit exit = g.Run(code);
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        X86Cpu cpu = g.Guest.Cpu;
        var memory = new byte[0x1000];
        g.Guest.Memory.Read(Data, memory);
        return new Outcome(g.Guest.Guest.Vcpu.GetRegisters(), (ulong)cpu.State.InstructionsRetired, Convert.ToHexString(memory),
            g.Guest.ReadU64(Recorders.Vector), g.Guest.ReadU64(Recorders.SavedIp), g.Guest.ReadU64(Recorders.SavedSp),
            g.Guest.ReadU64(PagedGuest.FaultVector), g.Guest.ReadU64(PagedGuest.FaultCode), g.Guest.ReadU64(PagedGuest.FaultAddress),
            g.Guest.ReadU64(PagedGuest.FaultRip), cpu.NativeEntries, cpu.NativeSteps);
    }

    /// <summary>The program under the interpreter, then translated with the flag-saving probe and (where the host
    /// can) the flag-keeping one; both must agree with the interpreter. Returns the last translated outcome.</summary>
    private static Outcome RunBoth(Action<Assembler> code, Action<PagedGuest> prepare)
    {
        Outcome interpreted = Run(NativeTierTests.InterpreterOptions, code, prepare);
        Outcome native = RunNative(code, prepare, savingProbe: true);
        AssertAgree(interpreted, native);
        if (!NativeTranslator.HostCanKeepFlagsInProbe) return native;
        native = RunNative(code, prepare, savingProbe: false);
        AssertAgree(interpreted, native);
        return native;
    }

    private static Outcome RunNative(Action<Assembler> code, Action<PagedGuest> prepare, bool savingProbe)
    {
        NativeTranslator.ForceFlagSavingProbe = savingProbe;
        NativeTranslator.ForceFlagKeepingProbe = !savingProbe;
        try { return Run(NativeTierTests.NativeOptions, code, prepare); }
        finally { NativeTranslator.ForceFlagSavingProbe = NativeTranslator.ForceFlagKeepingProbe = false; }
    }

    private static void AssertAgree(Outcome interpreted, Outcome native) =>
        Assert.Equal(interpreted with { Entries = 0, Steps = 0 }, native with { Entries = 0, Steps = 0 });

    /// <summary><c>jmp qword [rip+disp32]</c> at <paramref name="at"/> to the pointer at <paramref name="slot"/>,
    /// as a PLT stub is encoded.</summary>
    private static void JmpThroughRipRelative(Assembler a, ulong at, ulong slot)
    {
        int displacement = checked((int)(long)(slot - (at + 6)));
        a.db(0xFF, 0x25);
        a.dd(displacement);
    }

    /// <summary>Four functions in pages of their own (each adds to RBX and mixes it, and leaves CF set for the
    /// caller's ADC), four PLT-like stubs in one page jumping through the GOT at <see cref="Got"/>, and a vtable
    /// at <see cref="Got"/> + 64 with the same functions reversed.</summary>
    private static void LoadPltAndFunctions(PagedGuest g)
    {
        for (int k = 0; k < 4; k++)
        {
            ulong function = Functions + (ulong)k * 0x1000;
            int value = k + 1;
            g.Guest.Load(function, 64, a =>
            {
                a.add(rbx, value);
                a.lea(rbx, __[rbx + rbx * 2]);
                a.stc();
                a.ret();
            });
            g.Guest.WriteU64(Got + (ulong)k * 8, function);
            g.Guest.WriteU64(Got + 64 + (ulong)k * 8, Functions + (ulong)(3 - k) * 0x1000);
        }
        g.Guest.Load(Stubs, 64, a =>
        {
            for (int k = 0; k < 4; k++)
            {
                JmpThroughRipRelative(a, Stubs + (ulong)k * 16, Got + (ulong)k * 8);
                for (int pad = 6; pad < 16; pad++) a.int3();
            }
        });
    }

    [Fact]
    public void Plt_stubs_and_vtable_calls_through_memory_stay_translated_and_agree_with_the_interpreter()
    {
        const int Rounds = 4000;
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            var keep = a.CreateLabel();
            a.mov(r15, Got);
            a.mov(ecx, Rounds);
            a.Label(ref top);
            // CALL rel32 to a stub (JMP [rip+GOT]), the function RETs here.
            a.mov(eax, ecx);
            a.and(eax, 3);
            a.shl(eax, 4);
            a.add(rax, (int)Stubs);
            a.call(rax);
            a.adc(r13, 0);
            // CALL [r15 + rax*8 + 64]: a vtable call.
            a.mov(eax, ecx);
            a.and(eax, 3);
            a.call(__qword_ptr[r15 + rax * 8 + 64]);
            // CALL [rsp]: the operand is read at the RSP before the push.
            a.mov(rax, __qword_ptr[r15 + 8]);
            a.push(rax);
            a.call(__qword_ptr[rsp]);
            a.pop(rdx);
            // Every 256th round, swap two GOT entries (data: the next stub goes elsewhere).
            a.test(ecx, 255);
            a.jnz(keep);
            a.mov(rax, __qword_ptr[r15]);
            a.xchg(__qword_ptr[r15 + 16], rax);
            a.mov(__qword_ptr[r15], rax);
            a.Label(ref keep);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        Outcome native = RunBoth(Program, LoadPltAndFunctions);

        Assert.NotEqual(0UL, native.Registers.Rbx);
        Assert.Equal((ulong)Rounds, native.Registers.R13);
        // Each round makes three calls, a JMP through the GOT and three RETs, each into another page: handed back
        // or missed in the jump cache, every one came back to the run loop.
        Assert.True(native.Entries < Rounds, $"{native.Entries} entries for {Rounds * 7} transfers");
        Assert.True(native.Steps < Rounds, $"{native.Steps} instructions handed back");
    }

    [Fact]
    public void A_pointer_that_straddles_two_pages_is_read_whole()
    {
        // The GOT slot runs from Data + 0xFFC into the next page: the probe's page check hands it to the interpreter.
        const ulong Straddling = Data + 0xFFC;
        void Prepare(PagedGuest g)
        {
            LoadPltAndFunctions(g);
            g.Guest.WriteU64(Straddling, Functions + 0x2000);
        }
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(ecx, 200);
            a.mov(r15, Straddling);
            a.Label(ref top);
            a.call(__qword_ptr[r15]);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        Outcome native = RunBoth(Program, Prepare);

        Assert.NotEqual(0UL, native.Registers.Rbx);
    }

    [Theory]
    [InlineData("jmp", false)]
    [InlineData("call", false)]
    [InlineData("jmp", true)]
    [InlineData("call", true)]
    public void A_fault_in_the_middle_of_a_block_is_taken_at_the_branch_with_nothing_pushed(string form, bool nonCanonical)
    {
        // 299 rounds through a GOT function; in the last, the block that ends in the branch (translated work before
        // it) finds its pointer's page unmapped (#PF) or the pointer non-canonical (#GP).
        const ulong Branch = Stubs + 0x100, Bad = Got + 0x100;
        void Prepare(PagedGuest g)
        {
            LoadPltAndFunctions(g);
            g.Guest.WriteU64(Bad, 0x0000_8000_0000_1000);
            g.Guest.Load(Branch, 64, a =>
            {
                var go = a.CreateLabel();
                a.add(r12, rcx);
                a.mov(__qword_ptr[Data + 8], r12);
                a.cmp(ecx, 1);
                a.jne(go);
                a.mov(r15, nonCanonical ? Bad : Unmapped + 0x10);
                a.Label(ref go);
                if (form == "jmp") a.jmp(__qword_ptr[r15]);
                else
                {
                    a.call(__qword_ptr[r15]);
                    a.ret();
                }
            });
        }
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(ecx, 300);
            a.mov(r15, Got);
            a.Label(ref top);
            a.call(Branch);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        Outcome native = RunBoth(Program, Prepare);

        if (nonCanonical)
        {
            Assert.Equal(13UL, native.GpVector);
            Assert.InRange(native.GpIp, Branch, Branch + 0x40);
        }
        else
        {
            Assert.Equal(14UL, native.PfVector);
            Assert.Equal(Unmapped + 0x10, native.PfAddress);
            Assert.InRange(native.PfIp, Branch, Branch + 0x40);
        }
        Assert.Equal(300UL * 301 / 2, native.Registers.R12); // RCX at each round's entry: 300 down to 1
        Assert.True(native.Entries < 300, $"{native.Entries} entries for 300 rounds");
    }
}
