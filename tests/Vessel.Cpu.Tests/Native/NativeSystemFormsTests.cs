using Iced.Intel;
using Vessel.Cpu.Tests.Segmentation;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>The system instructions of a kernel's entry and exit that the native tier translates (CLI, STI with IF
/// set, STAC, CLAC, MOV r/m, Sreg): the same program on the interpreter and translated leaves the same registers,
/// flags, memory and instruction count, the translated run hands them back only where the interpreter must act (a
/// fault, STI's interrupt shadow, CLAC's TLB drop), and the privilege checks fault at the same instruction.</summary>
public class NativeSystemFormsTests
{
    private const ulong Data = 0x100000, UserCode = 0x26000, GpHandler = 0x2F000;
    private const int Passes = 200;

    private sealed record Outcome(Registers Registers, ulong Retired, string Memory, ulong Vector, ulong SavedIp, long Steps, long Translations);

    private static Outcome Run(bool native, Action<Assembler> code, Action<PagedGuest>? prepare = null)
    {
        using var g = new PagedGuest(native ? NativeTierTests.NativeOptions : NativeTierTests.InterpreterOptions);
        g.Guest.SetGate64(13, SegmentedGuest.KernelCode64, GpHandler);
        Recorders.Handler64(g.Guest, GpHandler, 13, hasErrorCode: true);
        prepare?.Invoke(g);
        VcpuExit exit = g.Run(code);
        Assert.Equal(VcpuExitReason.Halt, exit.Reason);
        X86Cpu cpu = g.Guest.Cpu;
        var memory = new byte[0x1000];
        g.Guest.Memory.Read(Data, memory);
        return new Outcome(g.Guest.Guest.Vcpu.GetRegisters(), (ulong)cpu.State.InstructionsRetired, Convert.ToHexString(memory),
            g.Guest.ReadU64(Recorders.Vector), g.Guest.ReadU64(Recorders.SavedIp), cpu.NativeSteps, cpu.NativeTranslations);
    }

    private static Outcome RunBoth(Action<Assembler> code, Action<PagedGuest>? prepare = null)
    {
        Outcome interpreted = Run(native: false, code, prepare);
        Outcome native = Run(native: true, code, prepare);
        Assert.Equal(interpreted.Registers, native.Registers);
        Assert.Equal(interpreted.Retired, native.Retired);
        Assert.Equal(interpreted.Memory, native.Memory);
        Assert.Equal(interpreted.Vector, native.Vector);
        Assert.Equal(interpreted.SavedIp, native.SavedIp);
        Assert.True(native.Translations > 0, "nothing translated");
        return native;
    }

    [Fact]
    public void A_kernel_loop_of_the_entry_and_exit_forms_agrees_with_the_interpreter_and_stays_translated()
    {
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(ax, SegmentedGuest.UserData); // ES: another selector than DS and SS; FS: null
            a.mov(es, ax);
            a.xor(eax, eax);
            a.mov(fs, ax);
            a.mov(rbx, Data);
            a.mov(r8, unchecked((long)0xDEAD_BEEF_CAFE_0000UL));
            a.mov(ecx, Passes);
            a.Label(ref top);
            a.stac();
            a.pushfq();
            a.pop(rax);
            a.add(r12, rax);                        // AC set
            a.clac();                               // AC set: handed back (the interpreter drops what AC allowed)
            a.clac();                               // AC clear: translated
            a.pushfq();
            a.pop(rax);
            a.add(r13, rax);
            a.cli();
            a.pushfq();
            a.pop(rax);
            a.add(r13, rax);                        // IF clear
            a.mov(esi, ds);                         // Mov_r32m16_Sreg
            a.add(r14, rsi);
            a.mov(r8w, es);                         // Mov_rm16_Sreg: the upper bits stay
            a.mov(r9, ss);                          // Mov_r64m16_Sreg
            a.add(r14, r9);
            a.mov(__word_ptr[rbx + rcx * 2], es);   // Mov_r32m16_Sreg to memory
            a.mov(__word_ptr[rbx + rcx * 2 + 0x800], fs);
            a.test(cl, 7);                          // flags across the forms: set here, read after them
            a.cli();
            a.mov(edx, gs);
            a.setz(dl);
            a.add(r15, rdx);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        Outcome native = RunBoth(Program);

        // Per pass one CLAC that clears AC; the first pass also hands back the segment loads and the stack and data
        // accesses that miss the TLB. Untranslated, the forms were nine hand-backs a pass.
        Assert.True(native.Steps <= Passes + 10, $"{native.Steps} instructions handed back for {Passes} passes");
        Assert.Equal(0xDEAD_BEEF_CAFE_0000UL | SegmentedGuest.UserData, native.Registers.R8);
        Assert.Equal((ulong)Passes * 2 * SegmentedGuest.KernelData, native.Registers.R14);
    }

    [Fact]
    public void Sti_with_if_set_runs_translated_and_sti_with_if_clear_still_shadows_the_next_instruction()
    {
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(ecx, Passes);
            a.Label(ref top);
            a.cli();
            a.sti();                                // IF clear: handed back, the shadow ends the run
            a.inc(rsi);
            a.sti();                                // IF set: nothing to do
            a.pushfq();
            a.pop(rax);
            a.add(r12, rax);
            a.dec(ecx);
            a.jnz(top);
            a.cli();
            a.hlt();
        }
        Outcome native = RunBoth(Program);
        Assert.True(native.Steps <= Passes + 4, $"{native.Steps} instructions handed back for {Passes} passes");
        Assert.Equal((ulong)Passes, native.Registers.Rsi);
    }

    public static TheoryData<string, int> UserForms => new()
    {
        { "cli", 0 }, { "cli", 3 }, { "sti", 0 }, { "sti", 3 }, { "stac", 3 }, { "clac", 3 }, { "mov_sreg", 0 },
    };

    [Theory]
    [MemberData(nameof(UserForms))]
    public void In_ring_3_the_privilege_checks_fault_where_the_interpreter_faults(string form, int iopl)
    {
        // Ring 3 with IF set and IOPL as given runs the form; HLT then raises #GP, which the handler records.
        void Prepare(PagedGuest g)
        {
            NativeJumpCacheLevelTests.UserPage(g, UserCode);
            NativeJumpCacheLevelTests.UserPage(g, SegmentedGuest.UserStack);
            g.Guest.Load(UserCode, 64, a =>
            {
                a.mov(ebx, 7);
                switch (form)
                {
                    case "cli": a.cli(); break;
                    case "sti": a.sti(); break;
                    case "stac": a.stac(); break;
                    case "clac": a.clac(); break;
                    default: a.mov(ebx, cs); break;
                }
                a.pushfq();
                a.pop(rax);
                a.hlt();
            });
        }
        Outcome native = RunBoth(a => NativeJumpCacheLevelTests.IretToUser(a, UserCode, 0x202 | (iopl << 12)), Prepare);

        Assert.Equal(13UL, native.Vector);
        bool faults = form is "stac" or "clac" || (form is "cli" or "sti" && iopl < 3);
        ulong formAddress = UserCode + 5; // after MOV EBX, 7
        if (faults) Assert.Equal(formAddress, native.SavedIp);
        else Assert.NotEqual(formAddress, native.SavedIp);
    }
}
