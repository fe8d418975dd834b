using Iced.Intel;
using Vessel.Cpu.Tests.Segmentation;
using Vessel.Cpu.Tests.System;
using Vessel.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Vessel.Cpu.Tests.Native;

/// <summary>The system instructions of a kernel's entry and exit that the native tier translates (CLI, STI, STAC,
/// CLAC, SWAPGS, MOV r/m, Sreg): the same program on the interpreter and translated leaves the same registers, flags,
/// memory and instruction count, the translated run hands them back only where the interpreter must act (a fault,
/// CLAC's TLB drop), STI's interrupt shadow holds a pending interrupt off as the interpreter does, and the privilege
/// checks fault at the same instruction.</summary>
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
    public void Sti_runs_translated_whether_if_was_set_or_clear()
    {
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(ecx, Passes);
            a.Label(ref top);
            a.cli();
            a.sti();                                // IF clear: sets it, the shadow covers the INC in this block
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
        // The first pass hands back the stack write that misses the TLB; no STI is handed back.
        Assert.True(native.Steps <= 4, $"{native.Steps} instructions handed back for {Passes} passes");
        Assert.Equal((ulong)Passes, native.Registers.Rsi);
    }

    [Fact]
    public void A_translated_sti_that_sets_if_holds_a_pending_interrupt_off_for_one_instruction()
    {
        const int InterruptVector = 0x30;
        const ulong InterruptHandler = 0x2E000;
        void Prepare(PagedGuest g)
        {
            g.Guest.SetGate64(InterruptVector, SegmentedGuest.KernelCode64, InterruptHandler);
            Recorders.Handler64(g.Guest, InterruptHandler, InterruptVector, hasErrorCode: false);
            X86Cpu cpu = g.Guest.Cpu;
            // Raised in the last pass, with IF clear: the STI's shadow covers the JB, so the interrupt arrives at the
            // HLT after it (the interpreter's answer), not at the JB, and not after the HLT (in the same block).
            cpu.InterruptController = new FakeInterruptController
            {
                Vectors = { InterruptVector },
                Armed = () => cpu.State.Gpr[6] >= Passes,
            };
        }
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.Label(ref top);
            a.cli();
            a.inc(rsi);
            a.cmp(rsi, Passes);
            a.sti();
            a.jb(top);
            a.hlt();
        }
        Outcome native = RunBoth(Program, Prepare);
        Assert.Equal((ulong)InterruptVector, native.Vector);
        Assert.Equal((ulong)Passes, native.Registers.Rsi);
        Assert.True(native.Steps <= 2, $"{native.Steps} instructions handed back for {Passes} passes");
    }

    [Fact]
    public void Swapgs_runs_translated_and_exchanges_gs_base_with_kernel_gs_base()
    {
        const ulong UserGs = Data, KernelGs = Data + 0x800;
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            WriteMsr(a, 0xC000_0101, UserGs);       // GS_BASE
            WriteMsr(a, 0xC000_0102, KernelGs);     // KERNEL_GS_BASE
            a.mov(rax, 0x1111_2222_3333_4444);
            a.mov(__qword_ptr[UserGs + 8], rax);
            a.mov(rax, 0x5555_6666_7777_8888);
            a.mov(__qword_ptr[KernelGs + 8], rax);
            a.mov(ecx, Passes);
            a.mov(ebx, 8);
            a.Label(ref top);
            a.test(cl, 3);                          // flags across SWAPGS: set here, read after it
            a.swapgs();
            a.setz(dl);
            a.add(r12, __qword_ptr.gs[rbx]);        // the kernel's block
            a.swapgs();
            a.add(r13, __qword_ptr.gs[rbx]);        // the user's again
            a.add(r14, rdx);
            a.dec(ecx);
            a.jnz(top);
            a.swapgs();                             // odd: the bases end swapped
            a.mov(ecx, 0xC000_0101);
            a.rdmsr();
            a.mov(r8d, eax);
            a.mov(ecx, 0xC000_0102);
            a.rdmsr();
            a.mov(r9d, eax);
            a.hlt();
        }
        Outcome native = RunBoth(Program);
        Assert.Equal(unchecked((ulong)Passes * 0x5555_6666_7777_8888), native.Registers.R12);
        Assert.Equal(unchecked((ulong)Passes * 0x1111_2222_3333_4444), native.Registers.R13);
        Assert.Equal((ulong)Passes / 4, native.Registers.R14);
        Assert.Equal(KernelGs, native.Registers.R8);
        Assert.Equal(UserGs, native.Registers.R9);
        // The first pass hands back the loads that miss the TLB; no SWAPGS is handed back.
        Assert.True(native.Steps <= 10, $"{native.Steps} instructions handed back for {Passes} passes");
    }

    [Fact]
    public void Translated_rdtsc_and_rdtscp_read_the_interpreters_counter_with_the_guests_offset_and_tsc_aux()
    {
        // The TSC moved 10^15 ticks (11.6 days of the guest's 1 GHz clock) ahead: a read that missed the offset, or
        // added it twice, is far outside [Start, 2 * Start).
        const ulong Start = 1_000_000_000_000_000, TscAux = 0x1234;
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            var forward = a.CreateLabel();
            WriteMsr(a, 0x10, Start);               // IA32_TIME_STAMP_COUNTER
            WriteMsr(a, 0xC000_0103, TscAux);       // IA32_TSC_AUX
            a.rdtsc();
            a.shl(rdx, 32);
            a.or(rax, rdx);
            a.mov(r8, rax);
            a.mov(r12, rax);
            a.mov(ebx, Passes);
            a.Label(ref top);
            a.mov(rax, cr4);                        // CR4.TSD every other pass: then the reads are handed back, and
            a.xor(rax, (int)ControlRegisters.Cr4Tsd); // the interpreter's alternate with the translated ones
            a.mov(cr4, rax);
            a.test(bl, 1);                          // flags across RDTSC: set here, read after it
            a.rdtsc();
            a.setz(r15b);
            a.add(r14, r15);
            a.shl(rdx, 32);
            a.or(rax, rdx);
            a.cmp(rax, r8);
            a.jae(forward);
            a.inc(r9);                              // counts reads that went backwards
            a.Label(ref forward);
            a.mov(r8, rax);
            a.rdtscp();
            a.add(r13, rcx);
            a.shl(rdx, 32);
            a.or(rax, rdx);
            a.cmp(rax, r8);
            a.adc(r9, 0);                           // CF: below the RDTSC before it
            a.mov(r8, rax);
            a.dec(ebx);
            a.jnz(top);
            a.rdtsc();
            a.shl(rdx, 32);
            a.or(rax, rdx);
            a.cmp(rax, r8);
            a.adc(r9, 0);
            a.mov(r10, rax);
            a.hlt();
        }
        Outcome native = Run(native: true, Program);
        Registers r = native.Registers;
        Assert.Equal(0UL, r.R9);
        Assert.InRange(r.R12, Start, 2 * Start);
        Assert.InRange(r.R10, r.R12, 2 * Start);
        Assert.Equal((ulong)Passes * TscAux, r.R13);
        Assert.Equal((ulong)Passes / 2, r.R14);
        // Each pass hands back its two CR4 moves, and the two reads of every other pass: untranslated, four a pass.
        Assert.True(native.Steps <= 3 * Passes + 10, $"{native.Steps} instructions handed back for {Passes} passes");
    }

    private static void WriteMsr(Assembler a, uint index, ulong value)
    {
        a.mov(ecx, index);
        a.mov(eax, (uint)value);
        a.mov(edx, (uint)(value >> 32));
        a.wrmsr();
    }

    public static TheoryData<string, int> UserForms => new()
    {
        { "cli", 0 }, { "cli", 3 }, { "sti", 0 }, { "sti", 3 }, { "stac", 3 }, { "clac", 3 }, { "swapgs", 3 }, { "rdtsc_tsd", 3 }, { "mov_sreg", 0 },
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
                    case "swapgs": a.swapgs(); break;
                    case "rdtsc_tsd": a.rdtsc(); break;
                    default: a.mov(ebx, cs); break;
                }
                a.pushfq();
                a.pop(rax);
                a.hlt();
            });
        }
        void Program(Assembler a)
        {
            if (form == "rdtsc_tsd")
            {
                a.mov(rax, cr4);
                a.or(rax, (int)ControlRegisters.Cr4Tsd);
                a.mov(cr4, rax);
            }
            NativeJumpCacheLevelTests.IretToUser(a, UserCode, 0x202 | (iopl << 12));
        }
        Outcome native = RunBoth(Program, Prepare);

        Assert.Equal(13UL, native.Vector);
        bool faults = form is "stac" or "clac" or "swapgs" or "rdtsc_tsd" || (form is "cli" or "sti" && iopl < 3);
        ulong formAddress = UserCode + 5; // after MOV EBX, 7
        if (faults) Assert.Equal(formAddress, native.SavedIp);
        else Assert.NotEqual(formAddress, native.SavedIp);
    }
}
